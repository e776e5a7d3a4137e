#include "passes/layout.h"

#include "passes/attention_match.h"
#include "passes/gemm_match.h"

#include <map>
#include <set>

namespace kiln {
namespace {

// x with its last two axes swapped (a transposed view drops back to its input).
NodePtr transposed(const NodePtr& x) {
  if (swaps_last_two(*x)) return x->inputs[0];
  size_t r = x->shape.size();
  std::vector<int> perm(r);
  for (size_t d = 0; d < r; ++d) perm[d] = static_cast<int>(d);
  std::swap(perm[r - 1], perm[r - 2]);
  Shape s = x->shape;
  std::swap(s[r - 1], s[r - 2]);
  return derived(*x, Op::Permute, x->dtype, s, {x}, PermuteAttr{perm});
}

// Layouts depend on a product's row count only between one row and more: a batch of 2 lowers
// as a batch of 300 does, so a training step over batches of any size is one symbolic program
// (runtime/size_family.h). Products of 2 or 3 rows are too small to care which layout they get.
constexpr int64_t kManyRows = 2;

// B as the tiled kernel streams it: a transposed view is copied (once for all its matmuls),
// unless the product has several rows (a packed GEMM reads it while packing), or B is too small
// to be worth a kernel (the tiled kernel needs 16 columns at least).
NodePtr streamed(const NodePtr& b, int64_t rows, std::map<const Node*, NodePtr>& copies) {
  size_t r = b->shape.size();
  if (!swaps_last_two(*b) || rows >= kManyRows || b->shape[r - 1] < 16 || b->shape[r - 2] < 16)
    return b;
  NodePtr& copy = copies[b->inputs[0].get()];
  if (!copy) copy = derived(*b, Op::Copy, b->dtype, b->shape, {b});
  return copy;
}

} // namespace

bool swaps_last_two(const Node& n) {
  if (n.realized() || n.op != Op::Permute) return false;
  auto& p = n.get<PermuteAttr>().perm;
  int r = static_cast<int>(p.size());
  if (r < 2 || p[r - 1] != r - 2 || p[r - 2] != r - 1) return false;
  for (int d = 0; d + 2 < r; ++d)
    if (p[d] != d) return false;
  return true;
}

Graph matmul_operand_layout(const Graph& g) {
  // Products whose only reader transposes them (a weight's gradient, computed as the gradient
  // of the weight's transpose and permuted back).
  std::map<const Node*, std::vector<const Node*>> users;
  // The products of an attention pattern stay as they are: its kernel reads every operand while
  // packing (passes/attention_match.h). Where the pattern is not fused after all (its
  // probabilities are read elsewhere), they run as written.
  std::set<const Node*> attention;
  for (Node* n : topo_order(g.raw(), /*stop_at_realized=*/true)) {
    for (auto& in : n->inputs) users[in.get()].push_back(n);
    if (auto a = match_attention(n)) attention.insert({n, a->product});
  }
  for (auto& o : g.outputs) users[o.get()].push_back(nullptr); // read by the caller as it is
  auto read_transposed = [&](const Node& n) {
    auto& u = users[&n];
    return u.size() == 1 && u[0] && swaps_last_two(*u[0]);
  };
  std::map<const Node*, NodePtr> copies; // by the node they transpose
  return rewrite(g, [&](const NodePtr& n, const Node& origin) -> NodePtr {
    if (swaps_last_two(*n) && swaps_last_two(*n->inputs[0])) return n->inputs[0]->inputs[0];
    if (n->op != Op::Matmul || n->shape.size() < 2 || attention.count(&origin)) return n;
    const NodePtr &a = n->inputs[0], &b = n->inputs[1];
    size_t r = n->shape.size();
    // Few columns (logits over 10 classes) or a transposing reader: C = (B^T A^T)^T, so that
    // the tiled kernel runs along the many rows, or writes what the reader reads.
    if ((n->shape[r - 1] < kGemmMinCols && n->shape[r - 2] >= kManyRows) ||
        read_transposed(origin)) {
      Shape s = n->shape;
      std::swap(s[r - 1], s[r - 2]);
      NodePtr ct = derived(*n, Op::Matmul, n->dtype, s,
                           {transposed(b), streamed(transposed(a), s[r - 2], copies)});
      return transposed(ct);
    }
    NodePtr sb = streamed(b, n->shape[r - 2], copies);
    return sb == b ? n : with_inputs(*n, {a, sb});
  });
}

} // namespace kiln
