#include "passes/pipeline.h"

#include "ir/error.h"
#include "ir/graph_printer.h"
#include "ir/verifier.h"
#include "passes/schedule.h"
#include "passes/simplify.h"

#include <unordered_set>

namespace kiln {

const std::vector<GraphPass>& graph_passes() {
  static const std::vector<GraphPass> passes = {
      {"fold", "fold elementwise ops on baked literals", fold_constants},
      {"algebra", "exact algebraic identities", simplify_algebra},
      {"views", "view canonicalization", canonicalize_views},
      {"dce", "drop subgraphs that cannot affect a result", eliminate_dead_code},
      {"cse", "merge structurally equal nodes", eliminate_common_subexpressions},
  };
  return passes;
}

namespace {

// Schedules and lowers every kernel; a fusion conflict makes the offending node a kernel
// output of its own and starts over (unfused, which always lowers, if that does not help).
std::vector<LoweredKernel> lower_all(const std::vector<Node*>& outputs, bool fusion) {
  std::unordered_set<Node*> forced;
  for (;;) {
    std::vector<Node*> roots = schedule(outputs, fusion, forced);
    std::unordered_set<Node*> boundary(roots.begin(), roots.end());
    auto is_boundary = [&](Node* n) { return boundary.count(n) > 0; };
    std::vector<LoweredKernel> kernels;
    try {
      for (Node* r : roots) kernels.push_back(lower_kernel({r}, is_boundary));
    } catch (const FusionConflict& c) {
      if (!fusion) throw Error(std::string("[lower] internal error: ") + c.what());
      if (!forced.insert(c.node).second) fusion = false;
      continue;
    }
    return kernels;
  }
}

} // namespace

Schedule run_pipeline(const std::vector<Node*>& outputs, const PipelineOptions& opts) {
  auto step = [&](std::string_view name, const Graph& g) {
    if (opts.verify_each) verify_graph(g.raw(), name);
    if (opts.on_step) opts.on_step(name, print_graph(g.raw(), {.source_locations = true}));
  };
  Schedule s;
  for (Node* o : outputs) s.graph.outputs.push_back(o->shared_from_this());
  step("graph", s.graph);
  if (opts.simplify)
    for (const GraphPass& p : graph_passes()) {
      s.graph = p.run(s.graph);
      step(p.name, s.graph);
    }
  s.kernels = lower_all(s.graph.raw(), opts.fusion);
  if (opts.on_step)
    for (auto& k : s.kernels) opts.on_step("kernels", print_kernel(k.kernel));
  return s;
}

} // namespace kiln
