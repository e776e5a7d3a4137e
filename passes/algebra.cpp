// Exact algebraic identities: only rewrites that give bit-identical results for every input
// (x + 0 is not one for floats: -0 + 0 is +0; x * 0 is not: NaN * 0 is NaN).
#include "passes/simplify.h"

#include <cmath>

namespace kiln {
namespace {

// n is the literal v, with v's sign: -0 is not 0 (x - 0 is x, x - -0 is not for x = -0).
bool is_literal(const Node& n, double v) {
  const Scalar* s = literal(n);
  return s && s->as_double(n.dtype) == v && std::signbit(s->as_double(n.dtype)) == std::signbit(v);
}

} // namespace

Graph simplify_algebra(const Graph& g) {
  return rewrite(g, [](const NodePtr& n) -> NodePtr {
    if (n->inputs.empty()) return n;
    const NodePtr& a = n->inputs[0];
    bool integral = !is_float(n->dtype);
    switch (n->op) {
    case Op::Cast:
      return a->dtype == n->dtype ? a : n;
    case Op::Neg:
      return a->op == Op::Neg && !a->realized() ? a->inputs[0] : n;
    case Op::LogicalNot:
      return a->op == Op::LogicalNot && !a->realized() && a->inputs[0]->dtype == DType::Bool
                 ? a->inputs[0]
                 : n;
    default:
      break;
    }
    if (op_category(n->op) != OpCategory::Binary) return n;
    const NodePtr& b = n->inputs[1];
    switch (n->op) {
    case Op::Mul:
      if (is_literal(*b, 1)) return a;
      if (is_literal(*a, 1)) return b;
      if (integral && (is_literal(*a, 0) || is_literal(*b, 0)))
        return literal_like(*n, n->dtype, Scalar{});
      return n;
    case Op::Div:
      return is_literal(*b, 1) ? a : n;
    case Op::Sub:
      if (is_literal(*b, 0)) return a;
      if (integral && a == b) return literal_like(*n, n->dtype, Scalar{});
      return n;
    case Op::Add:
      if (integral && is_literal(*b, 0)) return a;
      if (integral && is_literal(*a, 0)) return b;
      return n;
    case Op::Pow:
      return is_literal(*b, 1) ? a : n;
    case Op::Maximum:
    case Op::Minimum:
      return a == b ? a : n;
    default:
      return n;
    }
  });
}

} // namespace kiln
