#include "passes/grad_builder.h"

#include <numeric>

namespace kiln {

NodePtr GradBuilder::make(Op op, DType t, Shape shape, std::vector<NodePtr> in, Attr attr) {
  bool rg = false;
  for (auto& i : in) rg = rg || i->requires_grad;
  NodePtr n =
      make_node(op, t, std::move(shape), std::move(in), std::move(attr), fwd_.loc, fwd_.device);
  n->label = "backward";
  n->requires_grad = rg && is_float(t);
  return n;
}

NodePtr GradBuilder::unary(Op op, const NodePtr& a) { return make(op, a->dtype, a->shape, {a}); }

NodePtr GradBuilder::binary(Op op, const NodePtr& a, const NodePtr& b) {
  DType out = is_comparison(op) ? DType::Bool : a->dtype;
  return make(op, out, a->shape, {a, b});
}

NodePtr GradBuilder::lit(double v, const NodePtr& like) {
  NodePtr c = make(Op::Const, like->dtype, {}, {}, ConstAttr{Scalar::of(like->dtype, v), false});
  return like->shape.empty() ? c : make(Op::Expand, like->dtype, like->shape, {c});
}

NodePtr GradBuilder::cast(const NodePtr& a, DType t) {
  return a->dtype == t ? a : make(Op::Cast, t, a->shape, {a});
}

NodePtr GradBuilder::where(const NodePtr& c, const NodePtr& a, const NodePtr& b) {
  return make(Op::Where, a->dtype, a->shape, {c, a, b});
}

NodePtr GradBuilder::reduce(Op op, const NodePtr& a, std::vector<int> axes) {
  if (axes.empty()) return a;
  Shape s = a->shape;
  for (int ax : axes) s[ax] = 1;
  return make(op, a->dtype, s, {a}, AxesAttr{std::move(axes)});
}

NodePtr GradBuilder::expand(const NodePtr& a, const Shape& shape) {
  return a->shape == shape ? a : make(Op::Expand, a->dtype, shape, {a});
}

NodePtr GradBuilder::reduce_to(const NodePtr& a, const Shape& shape) {
  size_t lead = a->shape.size() - shape.size(); // dims expand() added in front
  std::vector<int> axes;
  for (size_t d = 0; d < a->shape.size(); ++d)
    if (d < lead || (shape[d - lead] == 1 && a->shape[d] != 1)) axes.push_back(static_cast<int>(d));
  return reshape(sum(a, axes), shape);
}

NodePtr GradBuilder::reshape(const NodePtr& a, const Shape& shape) {
  return a->shape == shape ? a : make(Op::Reshape, a->dtype, shape, {a});
}

NodePtr GradBuilder::permute(const NodePtr& a, std::vector<int> perm) {
  Shape s;
  for (int p : perm) s.push_back(a->shape[p]);
  return make(Op::Permute, a->dtype, s, {a}, PermuteAttr{std::move(perm)});
}

NodePtr GradBuilder::slice(const NodePtr& a, std::vector<int64_t> start, std::vector<int64_t> step,
                           Shape shape) {
  return make(Op::Slice, a->dtype, std::move(shape), {a},
              SliceAttr{std::move(start), std::move(step)});
}

NodePtr GradBuilder::pad(const NodePtr& a, std::vector<int64_t> before, Shape shape) {
  if (shape == a->shape) return a;
  return make(Op::Pad, a->dtype, std::move(shape), {a}, PadAttr{std::move(before), Scalar{}});
}

NodePtr GradBuilder::transpose_last(const NodePtr& a) {
  std::vector<int> perm(a->shape.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return permute(a, perm);
}

NodePtr GradBuilder::matmul(const NodePtr& a, const NodePtr& b) {
  Shape s = a->shape;
  s.back() = b->shape.back();
  return make(Op::Matmul, a->dtype, s, {a, b});
}

} // namespace kiln
