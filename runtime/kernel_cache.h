// Kernel cache: identical kernel IR compiles once per process, and once per machine on disk.
#pragma once
#include "codegen/backend.h"

#include <memory>

namespace kiln {

struct CachedKernel {
  const Backend* backend = nullptr;
  std::shared_ptr<const Executable> exe;
  std::shared_ptr<const Kernel> kernel;
  bool from_cache = false; // found in memory or on disk, not compiled
};

// Returns the kernel compiled by `backend`: from memory, else from the disk cache, else compiled
// (all counted in stats()). Safe to call from several threads at once.
CachedKernel cached_compile(const Kernel& k, const Backend& backend);

} // namespace kiln
