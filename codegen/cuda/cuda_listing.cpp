#include "codegen/cuda/cuda_listing.h"

#include "codegen/cuda/cuda_prelude.h"

#include <fmt/format.h>

namespace kiln::cuda {

std::string launch_plan_comment(const LaunchPlan& p) {
  std::string s = fmt::format(
      "// launch: strategy {}, grid [{}, {}, {}], block [{}, {}, {}], dynamic shared {} bytes\n",
      strategy_name(p.strategy), p.grid[0], p.grid[1], p.grid[2], p.block[0], p.block[1],
      p.block[2], p.dynamic_shared_bytes);
  for (const LaunchArg& a : p.args)
    s += fmt::format("// arg {}{}: {}{}\n", a.param ? "p" : "a", a.index, dtype_name(a.dtype),
                     a.param    ? " (scalar)"
                     : a.output ? " out"
                                : "");
  return s;
}

std::string cuda_listing(const CudaKernel& k) {
  std::string_view src = k.source, prelude = cuda_prelude();
  if (src.substr(0, prelude.size()) == prelude) src.remove_prefix(prelude.size());
  while (!src.empty() && src.front() == '\n') src.remove_prefix(1);
  return fmt::format(
      "// ---- cuda {} ----\n{}// (kiln's CUDA prelude, codegen/cuda/cuda_prelude.cpp, "
      "precedes this in the compiled source)\n{}",
      k.plan.entry, launch_plan_comment(k.plan), src);
}

} // namespace kiln::cuda
