#include "passes/layout.h"

namespace kiln {
namespace {

// A permute that swaps the last two axes and keeps the others.
bool swaps_last_two(const Node& n) {
  if (n.realized() || n.op != Op::Permute) return false;
  auto& p = n.get<PermuteAttr>().perm;
  int r = static_cast<int>(p.size());
  if (r < 2 || p[r - 1] != r - 2 || p[r - 2] != r - 1) return false;
  for (int d = 0; d + 2 < r; ++d)
    if (p[d] != d) return false;
  return true;
}

} // namespace

Graph matmul_operand_layout(const Graph& g) {
  return rewrite(g, [](const NodePtr& n) -> NodePtr {
    if (n->op != Op::Matmul) return n;
    const NodePtr& b = n->inputs[1];
    // Small operands are not worth a kernel: the tiled kernel needs 16 columns at least.
    size_t r = b->shape.size();
    if (!swaps_last_two(*b) || b->shape[r - 1] < 16 || b->shape[r - 2] < 16) return n;
    return with_inputs(*n, {n->inputs[0], derived(*b, Op::Copy, b->dtype, b->shape, {b})});
  });
}

} // namespace kiln
