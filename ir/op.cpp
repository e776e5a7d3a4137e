#include "ir/op.h"

namespace kiln {
namespace {
struct OpInfo {
  std::string_view name;
  int arity;
  OpCategory category;
};
constexpr OpInfo kOps[] = {
#define KILN_OP(name, mnemonic, arity, category) {mnemonic, arity, OpCategory::category},
#include "ir/ops.def"
#undef KILN_OP
};
} // namespace

std::string_view op_name(Op op) { return kOps[static_cast<int>(op)].name; }
int op_arity(Op op) { return kOps[static_cast<int>(op)].arity; }
OpCategory op_category(Op op) { return kOps[static_cast<int>(op)].category; }

bool is_expensive_elementwise(Op op) {
  switch (op) {
  case Op::Exp:
  case Op::Log:
  case Op::Log1p:
  case Op::Expm1:
  case Op::Sin:
  case Op::Cos:
  case Op::Tanh:
  case Op::Sigmoid:
  case Op::Erf:
  case Op::Pow:
    return true;
  default:
    return false;
  }
}

bool parse_op(std::string_view name, Op& out) {
  for (size_t i = 0; i < std::size(kOps); ++i)
    if (kOps[i].name == name) return out = static_cast<Op>(i), true;
  return false;
}

} // namespace kiln
