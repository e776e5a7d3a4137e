#include "passes/autodiff.h"

#include "ir/error.h"
#include "passes/grad_builder.h"
#include "passes/grad_rules.h"

#include <unordered_set>

namespace kiln {

std::unordered_map<Node*, NodePtr> gradients(const NodePtr& output, const NodePtr& seed,
                                             const std::vector<Node*>& wrt,
                                             const CustomVjp& custom) {
  // Nodes on a path from a wanted leaf to the output: only those get gradients.
  std::vector<Node*> order = topo_order({output.get()}, /*stop_at_realized=*/false);
  std::unordered_set<Node*> wanted(wrt.begin(), wrt.end()), on_path;
  for (Node* n : order) {
    bool reaches = wanted.count(n) > 0;
    for (auto& in : n->inputs) reaches = reaches || on_path.count(in.get());
    if (reaches && n->requires_grad) on_path.insert(n);
  }
  std::unordered_map<Node*, NodePtr> grad;
  if (!on_path.count(output.get())) return {};
  grad[output.get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    auto g = grad.find(n);
    if (g == grad.end() || n->inputs.empty() || !on_path.count(n)) continue;
    NodePtr self = n->shared_from_this();
    auto add_grad = [&](Node* in, const NodePtr& gi) {
      if (!gi || !on_path.count(in)) return;
      auto [slot, fresh] = grad.try_emplace(in, gi);
      if (!fresh) slot->second = GradBuilder(*in).add(slot->second, gi); // several uses: sum
    };
    if (auto c = custom ? custom(self, g->second) : std::nullopt) {
      for (size_t i = 0; i < n->inputs.size() && i < c->inputs.size(); ++i)
        add_grad(n->inputs[i].get(), c->inputs[i]);
      for (auto& [below, gb] : c->below) add_grad(below, gb); // later in reverse topo order
      continue;
    }
    auto rule = vjp(self, g->second);
    if (!rule)
      fail("backward", "{} {}{} has no gradient, but a value that requires grad flows through it",
           op_name(n->op), dtype_name(n->dtype), shape_str(n->shape));
    for (size_t i = 0; i < n->inputs.size() && i < rule->size(); ++i)
      add_grad(n->inputs[i].get(), (*rule)[i]);
  }
  std::unordered_map<Node*, NodePtr> out;
  for (Node* w : wrt)
    if (auto it = grad.find(w); it != grad.end()) out[w] = it->second;
  return out;
}

} // namespace kiln
