#include "passes/pipeline.h"

#include "ir/graph_printer.h"
#include "ir/verifier.h"
#include "passes/schedule.h"

#include <unordered_set>

namespace kiln {

Schedule run_pipeline(const std::vector<Node*>& outputs, const PipelineOptions& opts) {
  auto step = [&](std::string_view name, auto text) {
    if (opts.on_step) opts.on_step(name, text());
  };
  if (opts.verify_each) verify_graph(outputs, "trace");
  step("graph", [&] { return print_graph(outputs, {.source_locations = true}); });

  // Schedule, then lower each kernel; a fusion conflict makes the offending node a kernel
  // output of its own and starts over.
  std::unordered_set<Node*> forced;
  for (;;) {
    std::vector<Node*> roots = schedule(outputs, opts.fusion, forced);
    std::unordered_set<Node*> boundary(roots.begin(), roots.end());
    auto is_boundary = [&](Node* n) { return boundary.count(n) > 0; };
    Schedule s;
    try {
      for (Node* r : roots) s.kernels.push_back(lower_kernel({r}, is_boundary));
    } catch (const FusionConflict& c) {
      if (!forced.insert(c.node).second) throw;
      continue;
    }
    for (auto& k : s.kernels) step("kernels", [&] { return print_kernel(k.kernel); });
    return s;
  }
}

} // namespace kiln
