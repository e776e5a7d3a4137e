// The attention pattern in graph IR and in kernel IR (see attention_match.h).
#include "passes/attention_match.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <unordered_map>

namespace kiln {
namespace {

bool last_axis_reduce(const Node* n, Op op, const Node* of) {
  if (n->realized() || n->op != op || n->inputs[0].get() != of) return false;
  auto& axes = n->get<AxesAttr>().axes;
  return axes.size() == 1 && axes[0] == static_cast<int>(of->shape.size()) - 1;
}

Shape without_ones(const Shape& s) {
  Shape out;
  for (int64_t d : s)
    if (d != 1) out.push_back(d);
  return out;
}

// n through the views that broadcast a row statistic back over its row (expand, and reshapes
// that only add or drop dims of 1) and same-dtype casts (the detach of softmax's max); the
// nodes passed are added to `passed`.
Node* through_broadcast(Node* n, std::vector<Node*>& passed) {
  auto broadcasts = [](const Node* x) {
    if (x->op == Op::Expand) return true;
    if (x->op == Op::Reshape) return without_ones(x->shape) == without_ones(x->inputs[0]->shape);
    return x->op == Op::Cast && x->dtype == x->inputs[0]->dtype;
  };
  while (!n->realized() && broadcasts(n)) {
    passed.push_back(n);
    n = n->inputs[0].get();
  }
  return n;
}

// The softmax over the last axis whose output is p: its input s, the nodes computing p from s
// added to `interior`. nullptr if p is not a softmax.
Node* softmax_input(Node* p, std::vector<Node*>& interior) {
  if (p->realized() || (p->op != Op::Mul && p->op != Op::Div)) return nullptr;
  for (int side = 0; side < (p->op == Op::Mul ? 2 : 1); ++side) {
    std::vector<Node*> nodes{p};
    Node* e = p->inputs[side].get();
    Node* z = through_broadcast(p->inputs[1 - side].get(), nodes);
    if (p->op == Op::Mul) {
      if (z->realized() || z->op != Op::Reciprocal) continue;
      nodes.push_back(z);
      z = through_broadcast(z->inputs[0].get(), nodes);
    }
    if (!last_axis_reduce(z, Op::Sum, e) || e->realized() || e->op != Op::Exp) continue;
    Node* d = e->inputs[0].get();
    if (d->realized() || d->op != Op::Sub) continue;
    Node* s = d->inputs[0].get();
    nodes.insert(nodes.end(), {z, e, d});
    Node* mx = through_broadcast(d->inputs[1].get(), nodes);
    if (!last_axis_reduce(mx, Op::Max, s)) continue;
    nodes.push_back(mx);
    interior.insert(interior.end(), nodes.begin(), nodes.end());
    return s;
  }
  return nullptr;
}

// The one product of scores' shape that `scores` is an elementwise function of; the nodes on
// the paths from scores down to it (it included) are added to `interior`. Side inputs (a mask,
// a scale) are anything else; a search that meets more than a few nodes gives up.
Node* score_product(Node* scores, std::vector<Node*>& interior) {
  const int kBudget = 64;
  int visited = 0;
  Node* product = nullptr;
  bool ambiguous = false;
  std::unordered_map<Node*, bool> reaches; // whether a node's value depends on the product
  std::function<bool(Node*)> walk = [&](Node* n) -> bool {
    if (auto it = reaches.find(n); it != reaches.end()) return it->second;
    if (++visited > kBudget) {
      ambiguous = true;
      return false;
    }
    bool r = false;
    if (!n->realized() && n->shape == scores->shape && n->dtype == scores->dtype) {
      if (n->op == Op::Matmul) {
        ambiguous = ambiguous || (product && product != n);
        product = n;
        r = true;
      } else if (is_elementwise(n->op)) {
        for (auto& in : n->inputs) r = walk(in.get()) || r;
      }
    }
    reaches[n] = r;
    if (r) interior.push_back(n);
    return r;
  };
  walk(scores);
  return ambiguous ? nullptr : product;
}

} // namespace

std::optional<AttentionPattern> match_attention(Node* out) {
  if (out->realized() || out->op != Op::Matmul || !is_float(out->dtype) || out->numel() == 0 ||
      out->inputs[0]->numel() == 0)
    return std::nullopt;
  AttentionPattern a;
  a.out = out;
  a.v = out->inputs[1].get();
  a.scores = softmax_input(out->inputs[0].get(), a.interior);
  if (!a.scores || a.scores->realized()) return std::nullopt;
  a.product = score_product(a.scores, a.interior);
  if (!a.product || a.product->dtype != out->dtype || a.product->inputs[0]->numel() == 0)
    return std::nullopt;
  a.q = a.product->inputs[0].get();
  a.kt = a.product->inputs[1].get();
  std::sort(a.interior.begin(), a.interior.end());
  a.interior.erase(std::unique(a.interior.begin(), a.interior.end()), a.interior.end());
  return a;
}

namespace {

// Per instruction, bits of what its value varies with: loop axis a at bit a, stage s's index at
// bit 8 + s (a reduction's result no longer varies with its own stage).
std::vector<uint32_t> varies_with(const Kernel& k) {
  std::vector<uint32_t> v(k.insts.size(), 0);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::LoopIndex && in.imm < 8) v[i] = 1u << in.imm;
    if (in.op == Op::ReduceIndex && in.stage < 8) v[i] = 1u << (8 + in.stage);
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) v[i] |= v[s];
    if (is_stage_reduce(in.op) && in.stage < 8) v[i] &= ~(1u << (8 + in.stage));
  }
  return v;
}

} // namespace

std::optional<AttentionKernel> match_attention_kernel(const Kernel& k) {
  if (k.domain.size() != 3 || k.stages.size() != 2 || k.stages[0].size() != 1 ||
      k.stages[1].size() != 1 || k.stores.size() != 1 || k.stage_parents()[0] != 1)
    return std::nullopt;
  AttentionKernel a;
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::SoftmaxSum && in.stage == 1 && a.out < 0)
      a.out = static_cast<int>(i);
    else if (in.op == Op::Sum && in.stage == 0 && a.dot < 0)
      a.dot = static_cast<int>(i);
    else if (is_stage_reduce(in.op))
      return std::nullopt;
  }
  if (a.out < 0 || a.dot < 0 || k.stores[0].value != a.out) return std::nullopt;
  DType t = k.insts[a.out].dtype;
  const KInst& mul = k.insts[k.insts[a.dot].a];
  if (k.insts[a.dot].dtype != t || mul.op != Op::Mul || mul.dtype != t) return std::nullopt;
  int readers = 0; // the product feeds the dot alone
  for (const KInst& in : k.insts)
    for (int s : {in.a, in.b, in.c}) readers += s == k.insts[a.dot].a;
  if (readers != 1) return std::nullopt;
  a.score = k.insts[a.out].a;
  a.value = k.insts[a.out].b;
  const uint32_t m = 1u << 1, n = 1u << 2, d = 1u << 8, j = 1u << 9;
  auto v = varies_with(k);
  for (auto [x, y] : {std::pair{mul.a, mul.b}, std::pair{mul.b, mul.a}})
    if (!(v[x] & (j | n)) && !(v[y] & (m | n))) {
      a.q = x;
      a.k = y;
    }
  if (a.q < 0 || (v[a.value] & (m | d)) || (v[a.score] & (n | d)) ||
      (v[k.stores[0].index] & (d | j)))
    return std::nullopt;
  if (k.domain[2].symbolic() || k.stages[0][0].symbolic()) return std::nullopt; // see the header
  a.B = k.domain[0];
  a.M = k.domain[1];
  a.N = k.domain[2].value();
  a.D = k.stages[0][0].value();
  a.L = k.stages[1][0];
  return a;
}

} // namespace kiln
