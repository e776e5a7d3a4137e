// Kernel cache: identical kernel IR compiles once per process, and once per machine on disk.
#pragma once
#include "codegen/backend.h"

#include <memory>
#include <vector>

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

// A kernel from cached_compile and when its lookup or compile ran (for KILN_PROFILE).
struct TimedKernel {
  CachedKernel kernel;
  double start = 0, seconds = 0;
};

// cached_compile of every kernel, in parallel over the thread pool: a cold program's time is
// LLVM's (a GEMM kernel takes 0.1-0.3 s). The first error is rethrown on the caller's thread.
std::vector<TimedKernel> cached_compile_all(const std::vector<const Kernel*>& kernels,
                                            const Backend& backend);

} // namespace kiln
