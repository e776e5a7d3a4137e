#include "codegen/cuda/nvrtc_compile.h"

#include "ir/error.h"

#include "codegen/cuda/nvrtc_library.h"

#include <fmt/format.h>
#include <regex>
#include <sstream>

namespace kiln::cuda {
namespace {

std::string numbered(const std::string& src) {
  std::istringstream in(src);
  std::string out, l;
  for (int n = 1; std::getline(in, l); ++n) out += fmt::format("{:4} | {}\n", n, l);
  return out;
}

void check(const NvrtcApi& api, nvrtcResult r, const char* what, const std::string& name) {
  if (r != NVRTC_SUCCESS)
    fail("cuda", "{} failed for kernel {}: {}", what, name, api.error_string(r));
}

} // namespace

void parse_ptxas_report(const std::string& log, CompiledCubin& out) {
  std::smatch m;
  if (std::regex_search(log, m, std::regex(R"(Used (\d+) registers)")))
    out.registers = std::stoi(m[1]);
  if (std::regex_search(
          log, m,
          std::regex(
              R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)"))) {
    out.stack_bytes = std::stoi(m[1]);
    out.spill_stores = std::stoi(m[2]);
    out.spill_loads = std::stoi(m[3]);
  }
  if (std::regex_search(log, m, std::regex(R"((\d+) bytes smem)")))
    out.shared_bytes = std::stoi(m[1]);
}

CompiledCubin nvrtc_compile(const std::string& source, const std::string& name,
                            const std::string& arch) {
  const NvrtcApi& api = nvrtc();
  nvrtcProgram prog;
  check(api, api.create_program(&prog, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr),
        "nvrtcCreateProgram", name);
  std::string arch_opt = "--gpu-architecture=" + arch;
  // 177: unused helpers of the prelude.
  const char* opts[] = {arch_opt.c_str(), "--std=c++17", "--fmad=false", "--ptxas-options=-v",
                        "--diag-suppress=177"};
  nvrtcResult r = api.compile_program(prog, 5, opts);
  size_t log_size = 0;
  api.program_log_size(prog, &log_size);
  CompiledCubin out;
  out.log.resize(log_size);
  if (log_size) api.program_log(prog, out.log.data());
  while (!out.log.empty() && (out.log.back() == '\0' || out.log.back() == '\n')) out.log.pop_back();
  if (r != NVRTC_SUCCESS) {
    api.destroy_program(&prog);
    fail("cuda", "NVRTC could not compile kernel {} for {}: {}\n{}\n{}", name, arch,
         api.error_string(r), out.log, numbered(source));
  }
  size_t size = 0;
  check(api, api.cubin_size(prog, &size), "nvrtcGetCUBINSize", name);
  out.cubin.resize(size);
  check(api, api.cubin(prog, out.cubin.data()), "nvrtcGetCUBIN", name);
  api.destroy_program(&prog);
  parse_ptxas_report(out.log, out);
  return out;
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtc().version(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

} // namespace kiln::cuda
