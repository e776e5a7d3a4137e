#include "cuda_host_harness.h"

#include "codegen/cuda/cuda_scalar.h"
#include "ir/error.h"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace kt {
namespace {

namespace fs = std::filesystem;
using kiln::cuda::CudaKernel;

// kiln_host_launch_<i>: unpacks the argument array and launches the kernel over its plan.
std::string launcher(const CudaKernel& k, size_t i) {
  std::vector<std::string> args;
  for (size_t a = 0; a < k.plan.args.size(); ++a) {
    const auto& arg = k.plan.args[a];
    std::string t = kiln::cuda::mem_type(arg.dtype);
    args.push_back(arg.param ? fmt::format("*(const {}*)args[{}]", t, a)
                             : fmt::format("({}*)args[{}]", t, a));
  }
  const auto& p = k.plan;
  return fmt::format("extern \"C\" void kiln_host_launch_{}(void* const* args) {{\n"
                     "  ::kiln_host::launch({{{}, {}, {}}}, {{{}, {}, {}}}, [&] {{ {}({}); }});\n"
                     "}}\n",
                     i, p.grid[0], p.grid[1], p.grid[2], p.block[0], p.block[1], p.block[2],
                     p.entry, fmt::join(args, ", "));
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

} // namespace

HostCudaKernels::HostCudaKernels(const std::vector<CudaKernel>& kernels,
                                 const std::string& workdir) {
  fs::create_directories(workdir);
  fs::path src = fs::path(workdir) / "kernels.cpp", lib = fs::path(workdir) / "kernels.so",
           log = fs::path(workdir) / "compile.log";
  {
    // Each kernel's source (prelude included) in a namespace of its own: the prelude's helpers
    // are defined once per kernel, the extern "C" entries stay distinct.
    std::ofstream out(src);
    out << "#include \"" << KILN_CUDA_HOST_SHIM << "\"\n";
    for (size_t i = 0; i < kernels.size(); ++i)
      out << "namespace kiln_k" << i << " {\n"
          << kernels[i].source << launcher(kernels[i], i) << "} // namespace kiln_k" << i << "\n";
  }
  // -w: the generated source's `#pragma unroll` and unused prelude helpers are not errors here.
  std::string cmd =
      fmt::format("\"{}\" -std=c++17 -O1 -w -fPIC -shared -o \"{}\" \"{}\" > \"{}\" 2>&1",
                  KILN_CXX_COMPILER, lib.string(), src.string(), log.string());
  if (std::system(cmd.c_str()) != 0)
    kiln::fail("cuda host harness", "the C++ compiler rejected the generated CUDA source ({}):\n{}",
               src.string(), read_all(log));
  lib_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib_) kiln::fail("cuda host harness", "cannot load {}: {}", lib.string(), dlerror());
  for (size_t i = 0; i < kernels.size(); ++i) {
    void* f = dlsym(lib_, fmt::format("kiln_host_launch_{}", i).c_str());
    if (!f) kiln::fail("cuda host harness", "{} has no launcher for kernel {}", lib.string(), i);
    entries_.push_back(reinterpret_cast<void (*)(void* const*)>(f));
  }
}

HostCudaKernels::~HostCudaKernels() {
  if (lib_) dlclose(lib_);
}

void HostCudaKernels::launch(size_t i, void* const* args) const { entries_.at(i)(args); }

} // namespace kt
