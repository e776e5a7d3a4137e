#include "passes/grad_rules.h"

#include <cmath>
#include <numeric>

// Conventions at kinks, matching PyTorch (tests/test_autodiff.cpp, "gradients at kinks"):
// - relu'(0) = 0 and clamp's gradient is 1 on its bounds: the frontend builds both from
//   where() (frontend/elementwise.cpp), whose rule sends g to the branch taken;
// - abs'(0) = sign(0) = 0;
// - maximum/minimum of two tensors split g evenly between tied inputs;
// - max/min reductions share g evenly among the elements equal to the result (torch.amax);
// - floor, ceil, round and sign have gradient 0 everywhere.
namespace kiln {
namespace {

using Grads = std::vector<NodePtr>;

Grads unary_rule(GradBuilder& b, const NodePtr& n, const NodePtr& g) {
  const NodePtr& a = n->inputs[0];
  switch (n->op) {
  case Op::Neg:
    return {b.neg(g)};
  case Op::Abs:
    return {b.mul(g, b.unary(Op::Sign, a))};
  case Op::Exp:
    return {b.mul(g, n)};
  case Op::Log:
    return {b.div(g, a)};
  case Op::Log1p:
    return {b.div(g, b.add(a, b.lit(1, a)))};
  case Op::Expm1:
    return {b.mul(g, b.add(n, b.lit(1, n)))};
  case Op::Sqrt:
    return {b.div(b.scale(g, 0.5), n)};
  case Op::Rsqrt:
    return {b.mul(b.scale(g, -0.5), b.mul(n, b.mul(n, n)))};
  case Op::Sin:
    return {b.mul(g, b.unary(Op::Cos, a))};
  case Op::Cos:
    return {b.neg(b.mul(g, b.unary(Op::Sin, a)))};
  case Op::Tanh:
    return {b.mul(g, b.sub(b.lit(1, n), b.mul(n, n)))};
  case Op::Sigmoid:
    return {b.mul(g, b.mul(n, b.sub(b.lit(1, n), n)))};
  case Op::Erf:
    return {b.mul(g, b.scale(b.unary(Op::Exp, b.neg(b.mul(a, a))), 2 / std::sqrt(M_PI)))};
  case Op::Reciprocal:
    return {b.neg(b.mul(g, b.mul(n, n)))};
  case Op::Floor:
  case Op::Ceil:
  case Op::Round:
  case Op::Sign:
    return {b.lit(0, a)}; // piecewise constant, like PyTorch
  case Op::Cast:
    return {is_float(a->dtype) ? b.cast(g, a->dtype) : nullptr};
  case Op::Copy:
    if (is_transfer(*n)) return {make_transfer_node(g, n->inputs[0]->device, n->loc)};
    return {g};
  default:
    return {nullptr};
  }
}

// torch.maximum/minimum: the gradient goes to the larger (smaller) input, split evenly on ties.
Grads extremum_rule(GradBuilder& b, const NodePtr& n, const NodePtr& g) {
  const NodePtr &x = n->inputs[0], &y = n->inputs[1];
  Op wins = n->op == Op::Maximum ? Op::Gt : Op::Lt;
  NodePtr half = b.scale(g, 0.5), zero = b.lit(0, g);
  NodePtr tie = b.binary(Op::Eq, x, y);
  NodePtr gx = b.where(b.binary(wins, x, y), g, b.where(tie, half, zero));
  NodePtr gy = b.where(b.binary(wins, y, x), g, b.where(tie, half, zero));
  return {gx, gy};
}

Grads binary_rule(GradBuilder& b, const NodePtr& n, const NodePtr& g) {
  const NodePtr &x = n->inputs[0], &y = n->inputs[1];
  switch (n->op) {
  case Op::Add:
    return {g, g};
  case Op::Sub:
    return {g, b.neg(g)};
  case Op::Mul:
    return {b.mul(g, y), b.mul(g, x)};
  case Op::Div:
    return {b.div(g, y), b.neg(b.div(b.mul(g, n), y))};
  case Op::Pow: {
    // d/dx x^y = y x^(y-1), 0 where y = 0 (PyTorch: not 0 * inf at x = 0); d/dy x^y = x^y log x,
    // 0 where x^y is 0 and, as PyTorch, where x = 0 and y >= 0 (0^0 = 1, but not 1 * log 0).
    NodePtr zero = b.lit(0, n);
    NodePtr gx = b.where(b.binary(Op::Eq, y, b.lit(0, y)), zero,
                         b.mul(g, b.mul(y, b.binary(Op::Pow, x, b.sub(y, b.lit(1, y))))));
    NodePtr zero_base = b.binary(Op::LogicalAnd, b.binary(Op::Eq, x, b.lit(0, x)),
                                 b.binary(Op::Ge, y, b.lit(0, y)));
    NodePtr gy = b.where(b.binary(Op::LogicalOr, b.binary(Op::Eq, n, zero), zero_base), zero,
                         b.mul(g, b.mul(n, b.unary(Op::Log, x))));
    return {gx, gy};
  }
  case Op::Maximum:
  case Op::Minimum:
    return extremum_rule(b, n, g);
  case Op::Fmod: { // fmod(x, y) = x - trunc(x / y) * y
    NodePtr q = b.div(x, y);
    NodePtr trunc = b.mul(b.unary(Op::Sign, q), b.unary(Op::Floor, b.unary(Op::Abs, q)));
    return {g, b.neg(b.mul(g, trunc))};
  }
  default:
    return {nullptr, nullptr};
  }
}

Grads reduce_rule(GradBuilder& b, const NodePtr& n, const NodePtr& g) {
  const NodePtr& x = n->inputs[0];
  NodePtr ge = b.expand(g, x->shape);
  switch (n->op) {
  case Op::Sum:
    return {ge};
  case Op::Prod: {
    // prod / x where x is not 0; at a zero, the product of the others: that of the nonzero
    // inputs when it is the only zero, else 0 (PyTorch's rule; prod / x would be 0 / 0).
    auto& axes = n->get<AxesAttr>().axes;
    NodePtr is_zero = b.binary(Op::Eq, x, b.lit(0, x));
    NodePtr others = b.where(is_zero, b.lit(1, x), x);
    NodePtr others_prod = b.reduce(Op::Prod, others, axes);
    NodePtr zeros = b.sum(b.cast(is_zero, x->dtype), axes);
    NodePtr at_zero = b.where(b.binary(Op::Eq, zeros, b.lit(1, zeros)), others_prod, b.lit(0, n));
    NodePtr d = b.where(is_zero, b.expand(at_zero, x->shape), b.div(b.expand(n, x->shape), x));
    return {b.mul(ge, d)};
  }
  default: {
    // max/min: the gradient is shared evenly by the elements equal to the result (like amax).
    auto& axes = n->get<AxesAttr>().axes;
    NodePtr hit = b.cast(b.binary(Op::Eq, x, b.expand(n, x->shape)), x->dtype);
    NodePtr count = b.expand(b.sum(hit, axes), x->shape);
    return {b.div(b.mul(ge, hit), count)};
  }
  }
}

// Gradient of a slice: scatter g back into zeros of the input's shape, one axis at a time,
// with pads and reshapes only (a step t: each element followed by t-1 zeros).
NodePtr unslice(GradBuilder& b, const NodePtr& n, NodePtr g) {
  const Shape& in = n->inputs[0]->shape;
  auto& s = n->get<SliceAttr>();
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t start = s.start[d], step = s.step[d], count = n->shape[d], extent = in[d];
    if (count == extent && step == 1) continue;
    Shape shape = g->shape;
    size_t r = shape.size();
    if (step < 0) { // reverse g, then scatter with the positive step from the lowest index
      std::vector<int64_t> st(r, 0), sp(r, 1);
      st[d] = count ? count - 1 : 0;
      sp[d] = -1;
      g = b.slice(g, st, sp, shape);
      start = start + (count - 1) * step;
      step = -step;
    }
    if (count == 0) return b.lit(0, n->inputs[0]); // an empty slice: nothing flows back
    if (step > 1) {
      Shape wide = shape;
      wide.insert(wide.begin() + d + 1, 1);
      g = b.reshape(g, wide);
      Shape padded = wide;
      padded[d + 1] = step;
      g = b.pad(g, std::vector<int64_t>(r + 1, 0), padded);
      shape[d] = count * step;
      g = b.reshape(g, shape);
    }
    if (shape[d] > extent - start) { // the last element's trailing zeros run past the end
      Shape cut = shape;
      cut[d] = extent - start;
      g = b.slice(g, std::vector<int64_t>(r, 0), std::vector<int64_t>(r, 1), cut);
      shape = cut;
    }
    std::vector<int64_t> before(r, 0);
    before[d] = start;
    shape[d] = extent;
    g = b.pad(g, before, shape);
  }
  return g;
}

Grads movement_rule(GradBuilder& b, const NodePtr& n, const NodePtr& g) {
  const NodePtr& x = n->inputs[0];
  switch (n->op) {
  case Op::Reshape:
    return {b.reshape(g, x->shape)};
  case Op::Permute: {
    auto& p = n->get<PermuteAttr>().perm;
    std::vector<int> inv(p.size());
    for (size_t d = 0; d < p.size(); ++d) inv[p[d]] = static_cast<int>(d);
    return {b.permute(g, inv)};
  }
  case Op::Expand:
    return {b.reduce_to(g, x->shape)};
  case Op::Slice:
    return {unslice(b, n, g)};
  default: { // pad: the gradient of the input is the slice of g it landed in
    auto& p = n->get<PadAttr>();
    return {b.slice(g, p.before, std::vector<int64_t>(x->shape.size(), 1), x->shape)};
  }
  }
}

} // namespace

std::optional<std::vector<NodePtr>> vjp(const NodePtr& n, const NodePtr& g) {
  GradBuilder b(*n);
  switch (op_category(n->op)) {
  case OpCategory::Unary:
    return unary_rule(b, n, g);
  case OpCategory::Binary:
    if (is_comparison(n->op) || n->op == Op::LogicalAnd || n->op == Op::LogicalOr)
      return std::nullopt;
    return binary_rule(b, n, g);
  case OpCategory::Ternary: {
    NodePtr zero = b.lit(0, g);
    return Grads{nullptr, b.where(n->inputs[0], g, zero), b.where(n->inputs[0], zero, g)};
  }
  case OpCategory::Reduce:
    if (n->op == Op::ArgMax || n->op == Op::ArgMin) return std::nullopt;
    return reduce_rule(b, n, g);
  case OpCategory::Movement:
    return movement_rule(b, n, g);
  case OpCategory::Contraction: // C = A B: dA = G B^T, dB = A^T G
    return Grads{b.matmul(g, b.transpose_last(n->inputs[1])),
                 b.matmul(b.transpose_last(n->inputs[0]), g)};
  default:
    return Grads{};
  }
}

} // namespace kiln
