#include "passes/blocked_sums.h"

#include <algorithm>
#include <limits>

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

// A max or min over more than kSumLong elements into fewer than kFewOutputs is blocked too: as
// one reduction it would run on one thread (CPU) or one block per output (GPU).
constexpr int64_t kFewOutputs = 64;

NodePtr reduced(const Node& like, Op op, const NodePtr& x, std::vector<int> axes) {
  Shape s = x->shape;
  for (int a : axes) s[a] = 1;
  return derived(like, op, x->dtype, std::move(s), {x}, AxesAttr{std::move(axes)});
}

// What pads a block without changing its reduction: 0 for a sum, the dtype's lowest (highest)
// value for a max (min).
Scalar identity(Op op, DType t) {
  if (op == Op::Sum) return Scalar{};
  bool low = op == Op::Max;
  if (is_float(t)) {
    double inf = std::numeric_limits<double>::infinity();
    return Scalar{low ? -inf : inf, 0};
  }
  if (t == DType::Bool || t == DType::U8) return Scalar{0, low ? 0 : (t == DType::Bool ? 1 : 255)};
  if (t == DType::I32)
    return Scalar{0,
                  low ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max()};
  return Scalar{0, low ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max()};
}

// x reduced by `op` over one axis (keepdim): directly when short, else as blocks padded with the
// op's identity, then the blocks' results over the same axis.
NodePtr block_axis(const Node& like, Op op, NodePtr x, int axis) {
  int64_t extent = x->shape[axis];
  if (extent <= kSumLong) return reduced(like, op, x, {axis});
  int64_t blocks = (extent + kSumBlock - 1) / kSumBlock;
  if (blocks * kSumBlock != extent) {
    std::vector<int64_t> before(x->shape.size(), 0);
    Shape padded = x->shape;
    padded[axis] = blocks * kSumBlock;
    x = derived(like, Op::Pad, x->dtype, padded, {x}, PadAttr{before, identity(op, x->dtype)});
  }
  Shape split = x->shape;
  split[axis] = blocks;
  split.insert(split.begin() + axis + 1, kSumBlock);
  NodePtr partial = reduced(like, op, reshaped(like, x, split), {axis + 1});
  Shape merged = x->shape;
  merged[axis] = blocks;
  partial = reshaped(like, partial, merged);
  // The block sums (n / 512 of them: few) add up in f64, so the levels above the first add no
  // error of their own. (Max and min are exact at every level.)
  if (op != Op::Sum || partial->dtype != DType::F32) return block_axis(like, op, partial, axis);
  NodePtr wide = derived(like, Op::Cast, DType::F64, partial->shape, {partial});
  NodePtr total = block_axis(like, op, wide, axis);
  return derived(like, Op::Cast, DType::F32, total->shape, {total});
}

// The groups a run of adjacent reduced axes (their extents, outer to inner) reduces in, as
// extents, outer to inner: inner axes merge while their product stays within kSumLong, an axis
// longer than that alone. So the groups of a batch's [B, 32] do not depend on B: a program whose
// batch changes keeps its kernels (runtime/size_family.h), where blocks of the merged extent
// would change every few sizes. A run whose innermost group would be narrower than kMinGroup
// merges whole, as its partial results would be a large fraction of its input.
constexpr int64_t kMinGroup = 16;

std::vector<int64_t> groups_of(const std::vector<int64_t>& run) {
  int64_t whole = 1;
  for (int64_t d : run) whole *= d;
  std::vector<int64_t> groups;
  int64_t g = 1;
  for (auto d = run.rbegin(); d != run.rend(); ++d) {
    if (g > 1 && g * *d > kSumLong) {
      groups.insert(groups.begin(), g);
      g = 1;
    }
    g *= *d;
  }
  groups.insert(groups.begin(), g);
  if (whole <= kSumLong || groups.back() < kMinGroup) return {whole};
  return groups;
}

// A reduction over several axes: each run of adjacent reduced axes becomes its groups' axes (a
// reshape), and the groups are reduced one after another, last first. A float sum adds the
// results of its first level in f64, as block_axis adds its blocks.
NodePtr blocked(const Node& n, const NodePtr& x) {
  const auto& axes = n.get<AxesAttr>().axes;
  auto is_reduced = [&](size_t d) {
    return std::count(axes.begin(), axes.end(), static_cast<int>(d)) > 0;
  };
  Shape merged;
  std::vector<int> reduced_axes; // of merged
  for (size_t d = 0; d < x->shape.size();) {
    if (!is_reduced(d)) {
      merged.push_back(x->shape[d++]);
      continue;
    }
    std::vector<int64_t> run;
    for (; d < x->shape.size() && is_reduced(d); ++d) run.push_back(x->shape[d]);
    for (int64_t g : groups_of(run)) {
      reduced_axes.push_back(static_cast<int>(merged.size()));
      merged.push_back(g);
    }
  }
  NodePtr y = reshaped(n, x, merged);
  bool widened = false;
  for (auto it = reduced_axes.rbegin(); it != reduced_axes.rend(); ++it) {
    if (it != reduced_axes.rbegin() && n.op == Op::Sum && y->dtype == DType::F32) {
      y = derived(n, Op::Cast, DType::F64, y->shape, {y});
      widened = true;
    }
    y = block_axis(n, n.op, y, *it);
  }
  if (widened) y = derived(n, Op::Cast, DType::F32, y->shape, {y});
  return reshaped(n, y, n.shape);
}

bool to_block(const Node& n) {
  bool sum = n.op == Op::Sum && is_float(n.dtype), extreme = n.op == Op::Max || n.op == Op::Min;
  if (n.realized() || !(sum || (extreme && n.numel() < kFewOutputs))) return false;
  int64_t count = 1;
  for (int a : n.get<AxesAttr>().axes) count *= n.inputs[0]->shape[a];
  return count > kSumLong;
}

} // namespace

Graph block_long_sums(const Graph& g) {
  return rewrite(g, [](const NodePtr& n) { return to_block(*n) ? blocked(*n, n->inputs[0]) : n; });
}

} // namespace kiln
