#include "passes/schedule.h"

#include "passes/attention_match.h"

#include <algorithm>
#include <unordered_map>

namespace kiln {
namespace {

// Ops whose recomputation costs more than re-reading a written result.
bool expensive(Op op) { return is_expensive_elementwise(op) || is_reduce(op) || op == Op::Matmul; }

// Lowering and codegen walk a kernel's inlined nodes recursively, and a kernel of thousands of
// chained ops gains nothing from being one: a compute node more than this many inlined levels
// above its kernel's inputs is written by a kernel of its own.
constexpr int kMaxInlinedDepth = 256;

// Each reduction is a stage of its kernel, and a kernel holds at most 63 (ir/kernel.h). A lazy
// sum of many reductions (a metric accumulated over steps, an L2 penalty over every parameter)
// would inline them all into one kernel: past this many, the next compute node met below it
// starts a kernel of its own. (A softmax is two; a kernel of 32 reductions is already unusual.)
constexpr int kMaxReductionsPerKernel = 32;

// Attention patterns (passes/attention_match.h) that become one kernel: those whose scores and
// probabilities nothing else reads (a training step's softmax gradient reads them: its forward
// keeps three kernels) and none of whose nodes must be written. Their outputs become roots;
// returns their interior nodes.
std::unordered_set<Node*>
fused_attention(const std::vector<Node*>& order, std::unordered_set<Node*>& roots,
                const std::unordered_map<Node*, std::vector<Node*>>& users) {
  std::unordered_set<Node*> interior;
  for (Node* n : order) {
    auto a = n->realized() || n->op != Op::Matmul ? std::nullopt : match_attention(n);
    if (!a) continue;
    bool closed = std::all_of(a->interior.begin(), a->interior.end(), [&](Node* x) {
      auto it = users.find(x);
      return !roots.count(x) && !interior.count(x) && it != users.end() &&
             std::all_of(it->second.begin(), it->second.end(), [&](Node* u) {
               return u == n || std::binary_search(a->interior.begin(), a->interior.end(), u);
             });
    });
    if (!closed) continue;
    interior.insert(a->interior.begin(), a->interior.end());
    roots.insert(n);
  }
  return interior;
}

void bound_inlined_depth(const std::vector<Node*>& order, std::unordered_set<Node*>& roots) {
  std::unordered_map<Node*, int> depth; // inlined levels below a node, within its kernel
  for (Node* n : order) {
    if (n->realized()) continue;
    int d = 0;
    for (auto& in : n->inputs)
      if (auto it = depth.find(in.get()); it != depth.end()) d = std::max(d, it->second);
    if (d >= kMaxInlinedDepth && is_compute(n->op)) roots.insert(n);
    if (!roots.count(n)) depth[n] = d + 1;
  }
}

} // namespace

Node* storage_source(Node* n) {
  Node* base = n;
  while (!base->realized() && base->op == Op::Reshape) base = base->inputs[0].get();
  return base->realized() || is_compute(base->op) ? base : n;
}

std::vector<Node*> schedule(const std::vector<Node*>& outputs, bool fusion, bool attention,
                            const std::unordered_set<Node*>& forced) {
  std::vector<Node*> order = topo_order(outputs, /*stop_at_realized=*/true);
  std::unordered_set<Node*> roots;
  for (Node* o : outputs) {
    Node* src = storage_source(o); // the output itself, or the buffer a reshape of it aliases
    if (!src->realized()) roots.insert(src);
  }
  for (Node* n : order)
    if (!n->realized() && is_compute(n->op) && (!fusion || forced.count(n) || n->op == Op::Copy))
      roots.insert(n);

  if (fusion) {
    std::unordered_map<Node*, std::vector<Node*>> users;
    for (Node* n : order)
      for (auto& in : n->inputs) users[in.get()].push_back(n);
    std::unordered_set<Node*> attended =
        attention ? fused_attention(order, roots, users) : std::unordered_set<Node*>{};
    // A matmul reads each operand element once per output column (row): an elementwise op
    // inlined into its loop would be recomputed that often, so matmul operands are written
    // (but not an attention's probabilities: its kernel computes them).
    for (Node* n : order) {
      if (n->realized() || n->op != Op::Matmul) continue;
      for (auto& in : n->inputs) {
        Node* src = in.get();
        while (!src->realized() && is_movement(src->op)) src = src->inputs[0].get();
        if (!src->realized() && is_compute(src->op) && !attended.count(src)) roots.insert(src);
      }
    }
    // Walk users before producers: the kernels that would inline each node are known from its
    // users' decisions. A node inlined by several kernels is recomputed in each.
    std::unordered_map<Node*, std::vector<Node*>> kernels; // node -> kernel roots inlining it
    // A kernel computes at most one product: two in one loop nest (a gated MLP's
    // silu(h @ W1) * (h @ W3)) cannot both be tiled like a GEMM, and ran 20x slower than the
    // products written apart. The second one met is written; the first keeps the epilogue.
    std::unordered_set<Node*> has_product;     // kernel roots whose kernel computes a product
    std::unordered_map<Node*, int> reductions; // kernel root -> reductions inlined into it
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node* n = *it;
      if (n->realized()) continue;
      std::vector<Node*> ks;
      for (Node* u : users[n])
        for (Node* k : roots.count(u) ? std::vector<Node*>{u} : kernels[u])
          if (std::find(ks.begin(), ks.end(), k) == ks.end()) ks.push_back(k);
      bool broadcast = false; // an elementwise op recomputed per element of a much larger output
      for (Node* k : ks)
        broadcast = broadcast ||
                    (is_elementwise(n->op) && k->numel() > 4 * std::max<int64_t>(n->numel(), 1));
      if (attended.count(n)) { // inlined into its attention kernel, whatever it costs
        kernels[n] = ks;
        continue;
      }
      if (is_compute(n->op) && !roots.count(n) && expensive(n->op) && (ks.size() > 1 || broadcast))
        roots.insert(n);
      if (n->op == Op::Matmul && !roots.count(n) &&
          std::any_of(ks.begin(), ks.end(), [&](Node* k) { return has_product.count(k); }))
        roots.insert(n);
      if (is_compute(n->op) && !roots.count(n) && std::any_of(ks.begin(), ks.end(), [&](Node* k) {
            return reductions[k] >= kMaxReductionsPerKernel;
          }))
        roots.insert(n);
      kernels[n] = roots.count(n) ? std::vector<Node*>{n} : ks;
      if (n->op == Op::Matmul)
        for (Node* k : kernels[n]) has_product.insert(k);
      if (is_reduce(n->op))
        for (Node* k : kernels[n]) ++reductions[k];
    }
  }
  bound_inlined_depth(order, roots);
  std::vector<Node*> out;
  for (Node* n : order)
    if (roots.count(n)) out.push_back(n);
  return out;
}

} // namespace kiln
