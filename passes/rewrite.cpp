#include "passes/rewrite.h"

#include <unordered_map>

namespace kiln {

std::vector<Node*> Graph::raw() const {
  std::vector<Node*> r;
  for (auto& o : outputs) r.push_back(o.get());
  return r;
}

NodePtr with_inputs(const Node& n, std::vector<NodePtr> inputs) {
  return derived(n, n.op, n.dtype, n.shape, std::move(inputs), n.attr);
}

NodePtr derived(const Node& n, Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs,
                Attr attr) {
  NodePtr m =
      make_node(op, dtype, std::move(shape), std::move(inputs), std::move(attr), n.loc, n.device);
  m->label = n.label;
  return m;
}

bool is_param(const Node& n) {
  return n.op == Op::Const && !n.realized() && n.get<ConstAttr>().param;
}

const Scalar* literal(const Node& n) {
  const Node* c = &n;
  while (!c->realized() && (c->op == Op::Expand || c->op == Op::Reshape)) c = c->inputs[0].get();
  if (c->realized() || c->op != Op::Const || c->get<ConstAttr>().param) return nullptr;
  return &c->get<ConstAttr>().value;
}

Graph rewrite(const Graph& g, const Rule& rule) {
  return rewrite(g, [&](const NodePtr& node, const Node&) { return rule(node); });
}

Graph rewrite(const Graph& g, const RuleWithOrigin& rule) {
  std::unordered_map<Node*, NodePtr> map;
  for (Node* n : topo_order(g.raw(), /*stop_at_realized=*/true)) {
    NodePtr self = n->shared_from_this();
    if (n->realized() || is_param(*n)) {
      map[n] = self;
      continue;
    }
    bool changed = false;
    std::vector<NodePtr> ins;
    for (auto& in : n->inputs) {
      ins.push_back(map.at(in.get()));
      changed = changed || ins.back() != in;
    }
    NodePtr cur = changed ? with_inputs(*n, std::move(ins)) : self;
    // Apply the rule until it stops changing the node (x * 1 * 1 -> x); bounded for safety.
    for (int i = 0; i < 8; ++i) {
      NodePtr next = rule(cur, *n);
      if (next == cur) break;
      cur = next;
    }
    map[n] = cur;
  }
  Graph out;
  for (auto& o : g.outputs) out.outputs.push_back(map.at(o.get()));
  return out;
}

} // namespace kiln
