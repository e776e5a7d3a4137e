// NVRTC, loaded with dlopen and dlsym at first use like the driver (driver_api.h), so kiln links
// no libnvrtc: it builds with the CUDA toolkit and runs on machines without NVRTC, where only
// compiling a CUDA kernel is an error.
#pragma once
#include <nvrtc.h>
#include <string>

namespace kiln::cuda {

// The entry points kiln uses, typed from nvrtc.h.
struct NvrtcApi {
  decltype(&::nvrtcVersion) version = nullptr;
  decltype(&::nvrtcGetErrorString) error_string = nullptr;
  decltype(&::nvrtcCreateProgram) create_program = nullptr;
  decltype(&::nvrtcDestroyProgram) destroy_program = nullptr;
  decltype(&::nvrtcCompileProgram) compile_program = nullptr;
  decltype(&::nvrtcGetProgramLogSize) program_log_size = nullptr;
  decltype(&::nvrtcGetProgramLog) program_log = nullptr;
  decltype(&::nvrtcGetCUBINSize) cubin_size = nullptr;
  decltype(&::nvrtcGetCUBIN) cubin = nullptr;
};

// Opens `library` (a file name dlopen searches for, or a path) and resolves the entry points;
// throws kiln::Error "[cuda] NVRTC cannot be loaded from <library>..." when it does not open or
// lacks one of them. The library stays open.
NvrtcApi load_nvrtc(const std::string& library);

// The process's NVRTC, loaded once: the toolkit's soname (libnvrtc.so.13), then the copy in the
// toolkit kiln was configured with. Throws kiln::Error "[cuda] NVRTC is not available: ..." when
// neither loads.
const NvrtcApi& nvrtc();

// Empty when NVRTC loads, else why not; never throws.
std::string why_nvrtc_unavailable();

} // namespace kiln::cuda
