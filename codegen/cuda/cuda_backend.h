// The CUDA backend: kernel IR -> CUDA C (codegen/cuda/cuda_emit) -> CUBIN through NVRTC for the
// GPU's sm_XY -> a function loaded through the driver API; device memory from a caching pool.
// Built with KILN_CUDA. The driver is loaded at first use: on a machine without one, asking
// for a CUDA device throws "no CUDA device is available ..." (codegen/backend.h, backend_for).
#pragma once
#include "codegen/backend.h"

namespace kiln::cuda {

// The backend for GPU `index` (constructed at first request, never destroyed: device buffers
// may be released during exit).
const Backend& cuda_backend(int index = 0);

// The architecture kernels compile for: the GPU's when present, else sm_90 (what CI
// compile-checks; NVRTC needs no GPU for it).
std::string target_arch(int index = 0);

// compile() up to the payload, without loading it: emits the CUDA source (kept as the "cuda"
// dump when asked) and compiles it to a CUBIN. Needs NVRTC only, no GPU.
Compiled compile_cubin(const Kernel& k, const BackendCompileOptions& opts, int index = 0);

} // namespace kiln::cuda
