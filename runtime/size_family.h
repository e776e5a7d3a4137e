// Sizes that change without recompiling (README "Sizes that change"): the realizations of one graph
// structure at several sizes of one axis (a batch, a sequence length).
//
// The first size compiles concrete kernels (the fastest code). When the structure comes back at
// another size, each kernel that differs is generalised from its two lowerings
// (passes/generalise.h) and compiled once more with the size as its last parameter, read at run
// time. Every later size lowers its graph concretely (cheap: no LLVM) and runs a symbolic kernel
// wherever instantiating it at that size gives exactly the kernel lowered there, so a wrong fit
// can never run: a kernel no fit covers compiles concretely and becomes one more sample.
#pragma once
#include "passes/lower.h"
#include "passes/pipeline.h"
#include "runtime/kernel_cache.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kiln {

struct FamilyKernel {
  TimedKernel compiled;      // its kernel is symbolic when takes_size
  bool takes_size = false;   // its last parameter is the size of the family's axis
  bool compiled_now = false; // not found in a cache, nor a symbolic kernel compiled before
};

class SizeFamily {
public:
  // Notes the sizes of one realization (every dimension of its graph, in the structure's order)
  // and returns the size of the family's axis in it; nullopt until two realizations differed in
  // their sizes. The axis is then the smallest dimension that differed (a batch B, not the
  // 784*B of its flattened input).
  std::optional<int64_t> observe(const std::vector<int64_t>& dims);
  // kiln::mark_dynamic marked `marked`, whose marked axis is dimension #dim of `dims` (one
  // realization's, as for observe): it becomes the axis unless the family has one.
  void mark(const std::vector<int64_t>& dims, int dim, const Node& marked);
  // Marked, and nothing lowered yet: the kernels of a resized copy of the graph
  // (ir/resize.h), given to add_resized_samples before the first compile, let it fit symbolic
  // kernels at the first size.
  bool wants_resized_samples() const { return marked_ && pools_.empty(); }
  // Lowers two copies of the graph under `outputs` at other sizes of its marked axis with `po`
  // (two, so that a quadratic extent fits too), and keeps their kernels (never compiled, never
  // run) as guesses to fit from until kernels lowered at two sizes replace them.
  void add_resized_samples(const std::vector<Node*>& outputs, PipelineOptions po);
  // The kernels to launch for `kernels`, lowered at `size` of the axis (nullopt: not known yet),
  // compiled as they must be.
  std::vector<FamilyKernel> compile(const std::vector<LoweredKernel>& kernels,
                                    std::optional<int64_t> size, const Backend& backend);
  // The kernel IR compile() would launch for `kernels` at `size`, compiling nothing: the symbolic
  // kernel where one fits, else the kernel (kiln-opt prints these).
  std::vector<Kernel> fitted(const std::vector<LoweredKernel>& kernels, int64_t size);

private:
  struct Sample {
    std::optional<int64_t> size; // nullopt: lowered before the axis was known, at first_dims_
    std::shared_ptr<const Kernel> kernel;
    bool guess = false; // lowered from a resized copy of the graph, not from a realization
  };
  // The kernels at one place of the program, named by their prefix and how many kernels of that
  // prefix come before ("k_matmul_add_relu#1", the second layer): samples of two layers are no
  // sizes of one kernel.
  struct Pool {
    std::vector<Sample> samples; // concrete, the most recent last
    std::vector<CachedKernel> symbolic;
    bool has_guesses() const;
  };
  // What to launch for a kernel lowered at `size`.
  struct Choice {
    enum Kind { Sampled, SymbolicHit, Fitted, New } kind; // New: a concrete kernel, a new sample
    const CachedKernel* hit = nullptr;                    // SymbolicHit
    std::optional<Kernel> fit;                            // Fitted: symbolic, to compile
  };
  Choice choose(Pool& pool, const Kernel& k, std::optional<int64_t> size);
  void remember(Pool& pool, Sample s) const;
  std::vector<Pool*> pools_of(const std::vector<LoweredKernel>& kernels);
  int64_t size_of(const Sample& s) const { return s.size ? *s.size : first_dims_[axis_]; }
  const CachedKernel* find_symbolic(const Pool& pool, const Kernel& k, int64_t size) const;
  std::optional<Kernel> fit(const Pool& pool, const Kernel& k, int64_t size) const;

  bool seen_ = false;
  bool marked_ = false;
  std::vector<int64_t> first_dims_;
  int axis_ = -1; // index into the dims, once known
  std::unordered_map<std::string, Pool> pools_;
};

// Every dimension of the graph's nodes, in `order` (the order program_key walks them): the dims a
// SizeFamily observes.
std::vector<int64_t> graph_dims(const std::vector<Node*>& order);
// Where the marked axis of `marked` (kiln::mark_dynamic) is among graph_dims(order).
int marked_dim(const std::vector<Node*>& order, const Node& marked);

// Says (KILN_EXPLAIN_CACHE=1) that `backend` runs no symbolic kernels, so the mark on `marked`
// changes nothing there: each size compiles.
void explain_ignored_mark(const Node& marked, std::string_view backend);

} // namespace kiln
