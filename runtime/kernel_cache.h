// Kernel cache: identical kernel IR compiles once per process.
#pragma once
#include "codegen/cpu_backend.h"

#include <memory>

namespace kiln {

struct CachedKernel {
  cpu::KernelFn fn;
  std::shared_ptr<const Kernel> kernel;
};

// Returns the compiled kernel, compiling it on a miss (counted in stats()).
CachedKernel cached_compile(const Kernel& k);

} // namespace kiln
