// Kernel IR: one loop nest over an iteration domain, a DAG of scalar instructions, stores.
//
// Loops: `domain` holds the outer loops (outermost first; domain[0] is split across threads).
// Inside one outer iteration, `stages` run one after another, each an inner loop nest: a
// reduction stage accumulates values (rindex s.a are its indices), a map stage stores values
// (softmax: a max stage, a sum stage, then a map stage writing the row). Where each instruction
// runs follows from its operands (see placements()): outside any stage, after the stages whose
// results it uses, or inside one stage's loops.
//
// Nested stages exist for attention only (passes/attention_match.h): in
//   stage 0 [D]   the head dim: a score's dot product, once per key
//   stage 1 [L]   the keys: softmax_sum(score, value) @1
// the Sum over stage 0 reads stage 1's index (the key), so stage 0 runs inside stage 1's loop,
// once per iteration. A stage nests one level deep, in a later stage holding a softmax_sum.
#pragma once
#include "ir/node.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {

struct KArg {
  DType dtype;
  int64_t numel;
  bool output;
  bool operator==(const KArg&) const = default;
};

struct KInst {
  Op op;       // scalar op from ops.def (elementwise, reduce, Const, LoopIndex, ReduceIndex, Load)
  DType dtype; // result type
  int a = -1, b = -1, c = -1; // operand instruction ids; a masked Load: a index, b mask (bool)
  int64_t imm = 0; // LoopIndex/ReduceIndex: axis; Load: argument number; Param: parameter number
  // A Load with a mask reads only where the mask is true (0 elsewhere): a padded view reads
  // its input at unclamped, affine indices that vectorize as masked loads.
  int stage = -1;    // ReduceIndex and reductions: their stage
  Scalar value = {}; // Const: the literal
  bool operator==(const KInst&) const = default;
};

struct KStore {
  int arg, index, value;
  bool operator==(const KStore&) const = default;
};

// Where an instruction (or store) runs: inside stage `loop`'s loops (-1: outside all stages),
// after the stages up to `after` (-1: needs no stage result).
struct Placement {
  int loop = -1, after = -1;
};

struct Kernel {
  std::string name;
  std::vector<KArg> args;
  std::vector<DType> params; // scalars passed at run time, after the buffers
  std::vector<int64_t> domain;
  std::vector<std::vector<int64_t>> stages; // inner loop extents of each stage, in execution order
  std::vector<KInst> insts;
  std::vector<KStore> stores;

  std::vector<Placement> placements() const;
  // Per stage, the stage whose loop it runs inside (-1: none; see the header comment).
  std::vector<int> stage_parents() const;
  Placement store_placement(const KStore& st, const std::vector<Placement>& p) const;
  int64_t domain_size() const { return numel(domain); }
  int64_t inner_size() const; // iterations of all stages per outer point
};

std::string print_kernel(const Kernel& k);
// Empty when well formed, else what is wrong.
std::string verify_kernel(const Kernel& k);
// Stride of an i64 index instruction along one loop index (LoopIndex or ReduceIndex axis);
// nullopt when not affine in it. Backends use it to find contiguous and transposed accesses.
std::optional<int64_t> index_stride(const Kernel& k, int inst, Op loop, int64_t axis);

} // namespace kiln
