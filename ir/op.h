// Op enum and category predicates generated from ops.def.
#pragma once
#include <cstdint>
#include <string_view>

namespace kiln {

enum class Op : uint8_t {
#define KILN_OP(name, mnemonic, arity, category) name,
#include "ir/ops.def"
#undef KILN_OP
};

enum class OpCategory : uint8_t {
  Leaf,
  Unary,
  Binary,
  Ternary,
  Reduce,
  Movement,
  Contraction,
  Kernel
};

std::string_view op_name(Op op);
bool parse_op(std::string_view name, Op& out);
int op_arity(Op op);
OpCategory op_category(Op op);

inline bool is_elementwise(Op op) {
  auto c = op_category(op);
  return c == OpCategory::Unary || c == OpCategory::Binary || c == OpCategory::Ternary;
}
inline bool is_movement(Op op) { return op_category(op) == OpCategory::Movement; }
inline bool is_reduce(Op op) { return op_category(op) == OpCategory::Reduce; }
// Kernel-IR instructions that accumulate over a stage's loops (and carry its number).
inline bool is_stage_reduce(Op op) { return is_reduce(op) || op == Op::SoftmaxSum; }
inline bool is_leaf(Op op) { return op_category(op) == OpCategory::Leaf; }
// Ops that compute values (each a kernel when unfused), as opposed to views and leaves.
inline bool is_compute(Op op) {
  return is_elementwise(op) || is_reduce(op) || op_category(op) == OpCategory::Contraction;
}
inline bool is_comparison(Op op) { return op >= Op::Eq && op <= Op::Ge; }
// Elementwise ops that cost far more than a load (transcendentals and pow): worth storing
// once rather than recomputing.
bool is_expensive_elementwise(Op op);

} // namespace kiln
