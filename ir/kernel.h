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
//
// A symbolic kernel (passes/generalise.h) runs at sizes known only at launch: its extents,
// element counts and `sym` instructions are polynomials (ir/sym_int.h) in i64 parameters.
#pragma once
#include "ir/node.h"
#include "ir/sym_int.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln {

struct KArg {
  DType dtype;
  SymInt numel;
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
  SymInt sym = {};   // Sym: the value (symbolic)
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
  std::vector<SymInt> domain;
  std::vector<std::vector<SymInt>> stages; // inner loop extents of each stage, in execution order
  std::vector<KInst> insts;
  std::vector<KStore> stores;

  std::vector<Placement> placements() const;
  // Per stage, the stage whose loop it runs inside (-1: none; see the header comment).
  std::vector<int> stage_parents() const;
  Placement store_placement(const KStore& st, const std::vector<Placement>& p) const;
  // Of a concrete kernel only (they throw kiln::Error on a symbolic extent).
  int64_t domain_size() const { return numel(domain); }
  int64_t inner_size() const; // iterations of all stages per outer point
  bool symbolic() const;      // any extent, element count or instruction depends on a parameter
  bool operator==(const Kernel&) const = default;
};

// Names a kernel as lowering does: `prefix` (k_ and the fused ops), then a hash of its text, so
// equal kernels have equal names.
void name_kernel(Kernel& k, std::string_view prefix);
std::string_view kernel_name_prefix(std::string_view name); // "k_mul_add_3f2a01" -> "k_mul_add"

// Value numbering: appends an instruction to k unless an equal one exists; returns its id.
class InstNumbering {
public:
  int add(Kernel& k, const KInst& in);

private:
  std::unordered_map<std::string, int> ids_;
};

std::string print_kernel(const Kernel& k);
// Empty when well formed, else what is wrong.
std::string verify_kernel(const Kernel& k);
// Stride of an i64 index instruction along one loop index (LoopIndex or ReduceIndex axis);
// nullopt when not affine in it. Backends use it to find contiguous and transposed accesses.
std::optional<int64_t> index_stride(const Kernel& k, int inst, Op loop, int64_t axis);

} // namespace kiln
