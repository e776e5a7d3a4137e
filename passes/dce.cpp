// Dead-code elimination. A program is the subgraph reachable from its outputs, so what remains
// dead is code whose value cannot affect a result: the untaken branch of a where on a literal
// condition, the other operand of and/or with a literal, of an integer multiply by zero, ...
#include "passes/simplify.h"

namespace kiln {

Graph eliminate_dead_code(const Graph& g) {
  return rewrite(g, [](const NodePtr& n) -> NodePtr {
    auto lit = [](const NodePtr& x) { return literal(*x); };
    switch (n->op) {
    case Op::Where:
      if (const Scalar* c = lit(n->inputs[0])) return c->i ? n->inputs[1] : n->inputs[2];
      if (n->inputs[1] == n->inputs[2]) return n->inputs[1];
      return n;
    case Op::LogicalAnd:
    case Op::LogicalOr: {
      bool absorbing = n->op == Op::LogicalOr; // or(true, x) = true; and(false, x) = false
      for (auto& in : n->inputs)
        if (const Scalar* s = lit(in); s && in->dtype == DType::Bool && (s->i != 0) == absorbing)
          return literal_like(*n, DType::Bool, Scalar{0, absorbing});
      return n;
    }
    default:
      return n;
    }
  });
}

} // namespace kiln
