// Kernel IR: one loop nest over an iteration domain, a DAG of scalar instructions, stores.
//
// Loops: `domain` (output loops, outermost first; domain[0] is split across threads), then
// optionally `reduce` loops inside them. Each instruction lives at one of three levels, derived
// from its operands: outer (invariant in the reduce loops), inner (inside the reduce loops) and
// post (after them, using a reduction result). Stores happen at the outer/post level.
#pragma once
#include "ir/node.h"

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
  Op op;           // scalar op from ops.def (elementwise, reduce, Const, LoopIndex, ReduceIndex, Load)
  DType dtype;     // result type
  int a = -1, b = -1, c = -1; // operand instruction ids
  int64_t imm = 0; // LoopIndex/ReduceIndex: axis; Load: argument number
  Scalar value;    // Const: the literal
  bool operator==(const KInst&) const = default;
};

struct KStore {
  int arg, index, value;
  bool operator==(const KStore&) const = default;
};

enum class Level : uint8_t { Outer, Inner, Post };

struct Kernel {
  std::string name;
  std::vector<KArg> args;
  std::vector<int64_t> domain;
  std::vector<int64_t> reduce;
  std::vector<KInst> insts;
  std::vector<KStore> stores;

  std::vector<Level> levels() const;
  int64_t domain_size() const { return numel(domain); }
};

std::string print_kernel(const Kernel& k);
// Empty when well formed, else what is wrong.
std::string verify_kernel(const Kernel& k);

} // namespace kiln
