// Caching host allocator (the CPU backends' allocate()): freed buffers go back to a pool and are
// reused by later realize() calls.
//
// First-touching fresh memory on our VMs costs ~3 ms per MiB, more than most kernels, so buffers
// are never returned to the OS while the pool is under its cap. Large buffers are 2 MiB aligned
// and advised as transparent huge pages.
#pragma once
#include "ir/storage.h"

#include <cstddef>
#include <memory>

namespace kiln {

std::shared_ptr<Storage> cpu_alloc(size_t bytes);

struct AllocatorStats {
  size_t bytes_in_use = 0, bytes_cached = 0, fresh_allocations = 0, reuses = 0;
};
AllocatorStats allocator_stats();
// Returns every cached (free) buffer to the OS.
void allocator_release_cached();

} // namespace kiln
