// View canonicalization: identity views disappear, chains of one view kind become one view,
// and a permute that only moves size-1 axes becomes a reshape.
#include "passes/simplify.h"

#include <numeric>

namespace kiln {
namespace {

bool is_view_of(const Node& n, Op op) { return !n.realized() && n.op == op; }

NodePtr canonical(const NodePtr& n) {
  if (!is_movement(n->op)) return n;
  const NodePtr& x = n->inputs[0];
  if (n->shape == x->shape) {
    bool identity = n->op == Op::Reshape || n->op == Op::Expand || n->op == Op::Pad;
    if (n->op == Op::Slice) {
      auto& s = n->get<SliceAttr>();
      identity = std::all_of(s.start.begin(), s.start.end(), [](int64_t v) { return v == 0; }) &&
                 std::all_of(s.step.begin(), s.step.end(), [](int64_t v) { return v == 1; });
    }
    if (n->op == Op::Permute) {
      auto& p = n->get<PermuteAttr>().perm;
      std::vector<int> id(p.size());
      std::iota(id.begin(), id.end(), 0);
      identity = p == id;
    }
    if (identity) return x;
  }
  switch (n->op) {
  case Op::Reshape:
    if (is_view_of(*x, Op::Reshape)) return with_inputs(*n, {x->inputs[0]});
    return n;
  case Op::Expand:
    if (is_view_of(*x, Op::Expand)) return with_inputs(*n, {x->inputs[0]});
    return n;
  case Op::Permute: {
    auto& p = n->get<PermuteAttr>().perm;
    if (is_view_of(*x, Op::Permute)) { // out[d] = x[p[d]] = in[q[p[d]]]
      auto& q = x->get<PermuteAttr>().perm;
      std::vector<int> composed(p.size());
      for (size_t d = 0; d < p.size(); ++d) composed[d] = q[p[d]];
      return derived(*n, Op::Permute, n->dtype, n->shape, {x->inputs[0]}, PermuteAttr{composed});
    }
    // Only size-1 axes move: the element order is unchanged, so it is a reshape.
    std::vector<int> big;
    for (int a : p)
      if (x->shape[a] != 1) big.push_back(a);
    if (std::is_sorted(big.begin(), big.end()))
      return derived(*n, Op::Reshape, n->dtype, n->shape, {x});
    return n;
  }
  default:
    return n;
  }
}

} // namespace

Graph canonicalize_views(const Graph& g) { return rewrite(g, canonical); }

} // namespace kiln
