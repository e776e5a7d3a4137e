// Constant folding: elementwise ops whose inputs are all baked literals become one literal; a
// sum, product or matmul over nothing becomes its identity (a kernel would loop over an empty
// stage, with loads of the empty input hoisted out of it).
#include "ir/scalar_eval.h"
#include "passes/simplify.h"

namespace kiln {

NodePtr literal_like(const Node& like, DType dtype, Scalar value) {
  NodePtr c = derived(like, Op::Const, dtype, {}, {}, ConstAttr{value, false});
  return like.shape.empty() ? c : derived(like, Op::Expand, dtype, like.shape, {c});
}

Graph fold_constants(const Graph& g) {
  return rewrite(g, [](const NodePtr& n) -> NodePtr {
    bool over_nothing = !n->inputs.empty() && n->inputs[0]->numel() == 0 && n->numel() > 0;
    if (over_nothing && (n->op == Op::Sum || n->op == Op::Matmul))
      return literal_like(*n, n->dtype, Scalar{});
    if (over_nothing && n->op == Op::Prod) return literal_like(*n, n->dtype, Scalar{1, 1});
    if (!is_elementwise(n->op)) return n;
    std::vector<Scalar> v;
    for (auto& in : n->inputs) {
      const Scalar* s = literal(*in);
      if (!s) return n;
      v.push_back(*s);
    }
    DType t = n->inputs[0]->dtype;
    Scalar r;
    switch (op_category(n->op)) {
    case OpCategory::Unary:
      r = eval_unary(n->op, t, n->dtype, v[0]);
      break;
    case OpCategory::Binary:
      r = eval_binary(n->op, t, v[0], v[1]);
      break;
    default:
      r = v[0].i ? v[1] : v[2];
      break;
    }
    return literal_like(*n, n->dtype, r);
  });
}

} // namespace kiln
