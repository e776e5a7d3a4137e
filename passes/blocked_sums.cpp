#include "passes/blocked_sums.h"

#include <algorithm>

namespace kiln {
namespace {

// Sums over at most kSumLong elements stay one reduction (a vectorized loop keeps 16 to 32
// accumulators, so each adds at most a few hundred values: softmax and layernorm rows are
// untouched). Longer ones sum blocks of kSumBlock elements first: each accumulator then adds
// 16 to 32 values per level, and the tree has log_512(n) levels.
constexpr int64_t kSumLong = 4096;
constexpr int64_t kSumBlock = 512;

NodePtr reshaped(const Node& like, const NodePtr& x, Shape shape) {
  if (shape == x->shape) return x;
  return derived(like, Op::Reshape, x->dtype, std::move(shape), {x});
}

NodePtr summed(const Node& like, const NodePtr& x, std::vector<int> axes) {
  Shape s = x->shape;
  for (int a : axes) s[a] = 1;
  return derived(like, Op::Sum, x->dtype, std::move(s), {x}, AxesAttr{std::move(axes)});
}

// x summed over one axis (keepdim): directly when short, else as blocks padded with zeros, then
// the block sums over the same axis.
NodePtr sum_axis(const Node& like, NodePtr x, int axis) {
  int64_t extent = x->shape[axis];
  if (extent <= kSumLong) return summed(like, x, {axis});
  int64_t blocks = (extent + kSumBlock - 1) / kSumBlock;
  if (blocks * kSumBlock != extent) {
    std::vector<int64_t> before(x->shape.size(), 0);
    Shape padded = x->shape;
    padded[axis] = blocks * kSumBlock;
    x = derived(like, Op::Pad, x->dtype, padded, {x}, PadAttr{before, Scalar{}});
  }
  Shape split = x->shape;
  split[axis] = blocks;
  split.insert(split.begin() + axis + 1, kSumBlock);
  NodePtr partial = summed(like, reshaped(like, x, split), {axis + 1});
  Shape merged = x->shape;
  merged[axis] = blocks;
  partial = reshaped(like, partial, merged);
  // The block sums (n / 512 of them: few) add up in f64, so the levels above the first add no
  // error of their own.
  if (partial->dtype != DType::F32) return sum_axis(like, partial, axis);
  NodePtr wide = derived(like, Op::Cast, DType::F64, partial->shape, {partial});
  NodePtr total = sum_axis(like, wide, axis);
  return derived(like, Op::Cast, DType::F32, total->shape, {total});
}

// A sum over several axes: each run of adjacent reduced axes becomes one axis (a reshape), and
// the runs are summed one after another, last first.
NodePtr blocked_sum(const Node& n, const NodePtr& x) {
  const auto& axes = n.get<AxesAttr>().axes;
  Shape merged;
  std::vector<int> runs; // merged axes that are reduced
  for (size_t d = 0; d < x->shape.size(); ++d) {
    bool reduced = std::count(axes.begin(), axes.end(), static_cast<int>(d)) > 0;
    bool extends = reduced && d > 0 && !runs.empty() &&
                   runs.back() == static_cast<int>(merged.size()) - 1 &&
                   std::count(axes.begin(), axes.end(), static_cast<int>(d) - 1) > 0;
    if (extends) {
      merged.back() *= x->shape[d];
      continue;
    }
    if (reduced) runs.push_back(static_cast<int>(merged.size()));
    merged.push_back(x->shape[d]);
  }
  NodePtr y = reshaped(n, x, merged);
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) y = sum_axis(n, y, *it);
  return reshaped(n, y, n.shape);
}

bool long_float_sum(const Node& n) {
  if (n.op != Op::Sum || n.realized() || !is_float(n.dtype)) return false;
  int64_t count = 1;
  for (int a : n.get<AxesAttr>().axes) count *= n.inputs[0]->shape[a];
  return count > kSumLong;
}

} // namespace

Graph block_long_sums(const Graph& g) {
  return rewrite(
      g, [](const NodePtr& n) { return long_float_sum(*n) ? blocked_sum(*n, n->inputs[0]) : n; });
}

} // namespace kiln
