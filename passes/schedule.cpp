#include "passes/schedule.h"

#include <algorithm>

namespace kiln {

std::vector<Node*> schedule_unfused(const std::vector<Node*>& outputs) {
  std::vector<Node*> roots;
  std::unordered_set<Node*> is_output(outputs.begin(), outputs.end());
  for (Node* n : topo_order(outputs, /*stop_at_realized=*/true)) {
    if (n->realized()) continue;
    bool compute = is_elementwise(n->op) || is_reduce(n->op) || n->op == Op::Matmul;
    if (compute || is_output.count(n)) roots.push_back(n);
  }
  return roots;
}

} // namespace kiln
