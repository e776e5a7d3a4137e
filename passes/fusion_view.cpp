#include "passes/fusion_view.h"

#include "ir/graph_printer.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

std::vector<FusionGroup> fusion_groups(const Schedule& s) {
  std::vector<FusionGroup> groups;
  for (const LoweredKernel& lk : s.kernels) {
    FusionGroup g{&lk.kernel, {}, {}, {}};
    std::unordered_set<Node*> reads;
    for (size_t a = 0; a < lk.args.size(); ++a) {
      if (lk.kernel.args[a].output)
        g.outputs.push_back(lk.args[a]);
      else if (reads.insert(lk.args[a]).second)
        g.inputs.push_back(lk.args[a]);
    }
    // Everything between the outputs and the buffers read is inlined; iterative for deep graphs.
    std::unordered_set<Node*> seen(g.inputs.begin(), g.inputs.end());
    std::vector<std::pair<Node*, size_t>> stack;
    for (Node* o : g.outputs) {
      if (!seen.insert(o).second) continue;
      stack.push_back({o, 0});
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (!n->realized() && next < n->inputs.size()) {
          Node* in = n->inputs[next++].get();
          if (seen.insert(in).second) stack.push_back({in, 0});
          continue;
        }
        if (!n->realized()) g.nodes.push_back(n);
        stack.pop_back();
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<std::string> group_origins(const FusionGroup& g) {
  std::vector<std::string> out;
  bool computes =
      std::any_of(g.nodes.begin(), g.nodes.end(), [](Node* n) { return is_compute(n->op); });
  for (Node* n : g.nodes) {
    // Literals and views come from the same lines as the ops that use them: list compute nodes
    // (all nodes of a kernel that only copies a view).
    if (computes && !is_compute(n->op)) continue;
    std::string o = node_origin(*n);
    if (!o.empty() && std::find(out.begin(), out.end(), o) == out.end()) out.push_back(o);
  }
  return out;
}

std::string print_fused(const Schedule& s) {
  std::vector<Node*> roots = s.graph.raw();
  std::string out = print_graph(roots, {.source_locations = true});
  std::unordered_map<const Node*, int> id; // the printer's numbering
  for (Node* n : topo_order(roots, /*stop_at_realized=*/true))
    id.emplace(n, static_cast<int>(id.size()));
  auto names = [&](const std::vector<Node*>& ns, bool compute_only) {
    std::vector<std::string> v;
    for (Node* n : ns)
      if (!compute_only || is_compute(n->op))
        v.push_back(compute_only ? std::string(op_name(n->op))
                                 : fmt::format("%{}", id.count(n) ? id.at(n) : -1));
    return v;
  };
  for (const FusionGroup& g : fusion_groups(s))
    out += fmt::format("# kernel {} writes {} reads {} fuses {}\n", g.kernel->name,
                       fmt::join(names(g.outputs, false), " "),
                       g.inputs.empty() ? "nothing"
                                        : fmt::format("{}", fmt::join(names(g.inputs, false), " ")),
                       fmt::join(names(g.nodes, true), " "));
  return out;
}

} // namespace kiln
