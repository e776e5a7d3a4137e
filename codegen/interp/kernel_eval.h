// Runs kernel IR directly, without generating code: the CPU backend of a build without LLVM, and
// a second oracle that checks lowering apart from LLVM. Instructions run a column at a time over
// many loop iterations (lanes), so each op is dispatched once per column, not once per element.
#pragma once
#include "ir/kernel.h"

#include <vector>

namespace kiln {

// A kernel's sizes at one launch: those of a symbolic kernel follow from its i64 parameters.
struct KernelExtents {
  std::vector<int64_t> domain;
  std::vector<std::vector<int64_t>> stages;
  std::vector<int64_t> arg_numel; // per buffer argument
  std::vector<int64_t> params;    // i64 parameter values (0 for other parameters)
  int64_t domain_size() const;
};

class KernelEval {
public:
  explicit KernelEval(const Kernel& k);
  // The sizes this launch runs at (args as run() takes them).
  KernelExtents extents(void* const* args) const;
  // Runs rows [begin, end) of the outermost domain loop; args as Backend::launch takes them.
  // Throws kiln::Error when the kernel reads or writes outside a buffer.
  void run(void* const* args, int64_t begin, int64_t end) const;
  const Kernel& kernel() const { return k_; }

private:
  friend class EvalRun;
  Kernel k_;
  // Instructions in the order they run: outer[a + 1] outside all stages after stage a's results
  // (a = -1: before any stage); inner[s][g] in stage s's loops, after its first g nested stages.
  // Reductions are in neither.
  std::vector<std::vector<int>> outer_;
  std::vector<std::vector<std::vector<int>>> inner_;
  std::vector<int> parent_;                  // per stage: the stage it nests in, or -1
  std::vector<std::vector<int>> children_;   // per stage: the stages nested in it, in order
  std::vector<std::vector<int>> reductions_; // per stage
  std::vector<std::vector<int>> stores_;     // stores_[s + 1]: the stores placed in stage s
};

} // namespace kiln
