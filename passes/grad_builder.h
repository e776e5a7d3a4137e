// Small builders of graph-IR nodes for gradient rules: primitive ops with explicit shapes,
// every new node tagged with the forward node's source location and requiring grad when an
// input does (so gradients can be differentiated again).
#pragma once
#include "ir/node.h"

namespace kiln {

class GradBuilder {
public:
  explicit GradBuilder(const Node& forward) : fwd_(forward) {}

  NodePtr unary(Op op, const NodePtr& a);
  NodePtr binary(Op op, const NodePtr& a, const NodePtr& b); // equal shapes
  NodePtr lit(double v, const NodePtr& like);                // literal broadcast to like's shape
  NodePtr mul(const NodePtr& a, const NodePtr& b) { return binary(Op::Mul, a, b); }
  NodePtr add(const NodePtr& a, const NodePtr& b) { return binary(Op::Add, a, b); }
  NodePtr sub(const NodePtr& a, const NodePtr& b) { return binary(Op::Sub, a, b); }
  NodePtr div(const NodePtr& a, const NodePtr& b) { return binary(Op::Div, a, b); }
  NodePtr neg(const NodePtr& a) { return unary(Op::Neg, a); }
  NodePtr scale(const NodePtr& a, double v) { return mul(a, lit(v, a)); }
  NodePtr cast(const NodePtr& a, DType t);
  NodePtr where(const NodePtr& c, const NodePtr& a, const NodePtr& b);
  NodePtr reduce(Op op, const NodePtr& a, std::vector<int> axes); // keeps dims
  NodePtr sum(const NodePtr& a, std::vector<int> axes) { return reduce(Op::Sum, a, axes); }
  NodePtr expand(const NodePtr& a, const Shape& shape);    // same rank, size-1 dims grow
  NodePtr reduce_to(const NodePtr& a, const Shape& shape); // sums the dims expand() grew
  NodePtr reshape(const NodePtr& a, const Shape& shape);
  NodePtr permute(const NodePtr& a, std::vector<int> perm);
  NodePtr slice(const NodePtr& a, std::vector<int64_t> start, std::vector<int64_t> step,
                Shape shape);
  NodePtr pad(const NodePtr& a, std::vector<int64_t> before, Shape shape);
  NodePtr matmul(const NodePtr& a, const NodePtr& b);
  NodePtr transpose_last(const NodePtr& a); // swaps the two last axes

private:
  NodePtr make(Op op, DType t, Shape shape, std::vector<NodePtr> in, Attr attr = {});
  const Node& fwd_;
};

} // namespace kiln
