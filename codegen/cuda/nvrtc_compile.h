// CUDA C++ source -> CUBIN through NVRTC (loaded at first use, nvrtc_library.h), with ptxas's
// resource report. Built only with KILN_CUDA; the source generator itself needs no CUDA.
#pragma once
#include <string>
#include <vector>

namespace kiln::cuda {

struct CompiledCubin {
  std::vector<char> cubin;
  std::string log;      // NVRTC's log, including `ptxas info` lines (-v)
  int registers = -1;   // per thread, from the ptxas report; -1 when absent
  int spill_stores = 0; // bytes
  int spill_loads = 0;  // bytes
  int stack_bytes = 0;
  int shared_bytes = 0; // static shared memory
};

// Compiles for `arch` (e.g. "sm_90") with IEEE semantics (no fast math, no FMA contraction:
// --fmad=false). Throws kiln::Error with the kernel's name, NVRTC's log and the numbered source
// when compilation fails, and "[cuda] NVRTC is not available: ..." without NVRTC.
CompiledCubin nvrtc_compile(const std::string& source, const std::string& kernel_name,
                            const std::string& arch = "sm_90");

std::string nvrtc_version(); // "13.0"; throws like nvrtc_compile without NVRTC

// Parses the register / spill / stack / shared figures of a ptxas -v log into `out`.
void parse_ptxas_report(const std::string& log, CompiledCubin& out);

} // namespace kiln::cuda
