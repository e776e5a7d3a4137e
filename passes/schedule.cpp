#include "passes/schedule.h"

#include <algorithm>

namespace kiln {

Node* storage_source(Node* n) {
  Node* base = n;
  while (!base->realized() && base->op == Op::Reshape) base = base->inputs[0].get();
  return base->realized() || is_compute(base->op) ? base : n;
}

std::vector<Node*> schedule_unfused(const std::vector<Node*>& outputs) {
  std::vector<Node*> roots;
  std::unordered_set<Node*> is_output(outputs.begin(), outputs.end());
  for (Node* n : topo_order(outputs, /*stop_at_realized=*/true)) {
    if (n->realized()) continue;
    if (is_compute(n->op) || (is_output.count(n) && storage_source(n) == n)) roots.push_back(n);
  }
  return roots;
}

} // namespace kiln
