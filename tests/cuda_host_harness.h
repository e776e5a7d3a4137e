// The host execution harness of the CUDA emitter: generated CUDA source compiled as ordinary C++
// (with tests/cuda_host_shim.h) by the build's own C++ compiler, loaded, and launched over each
// kernel's launch plan, so kernels run without a GPU and can be checked against the interpreter.
#pragma once
#include "codegen/cuda/cuda_emit.h"

#include <string>
#include <vector>

namespace kt {

class HostCudaKernels {
public:
  // Writes one translation unit holding every kernel into `workdir`, compiles it into a shared
  // library and loads it. Throws kiln::Error with the compiler's output when it fails.
  HostCudaKernels(const std::vector<kiln::cuda::CudaKernel>& kernels, const std::string& workdir);
  ~HostCudaKernels();
  HostCudaKernels(const HostCudaKernels&) = delete;
  HostCudaKernels& operator=(const HostCudaKernels&) = delete;

  // Runs kernel i over its launch plan's grid; args as Backend::launch takes them (buffer data
  // pointers, then a pointer to each parameter's 8-byte slot).
  void launch(size_t i, void* const* args) const;

private:
  void* lib_ = nullptr;
  std::vector<void (*)(void* const*)> entries_;
};

} // namespace kt
