#include "passes/pipeline.h"

#include "ir/error.h"
#include "ir/graph_printer.h"
#include "ir/verifier.h"
#include "passes/blocked_sums.h"
#include "passes/layout.h"
#include "passes/schedule.h"
#include "passes/simplify.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

const std::vector<GraphPass>& graph_passes() {
  static const std::vector<GraphPass> passes = {
      {"fold", "fold elementwise ops on baked literals", fold_constants},
      {"algebra", "exact algebraic identities", simplify_algebra},
      {"views", "view canonicalization", canonicalize_views},
      {"dce", "drop subgraphs that cannot affect a result", eliminate_dead_code},
      {"cse", "merge structurally equal nodes", eliminate_common_subexpressions},
      {"layout", "copy transposed matmul operands into the layout matmul streams",
       matmul_operand_layout},
  };
  return passes;
}

namespace {

std::vector<Node*> roots_of(const LoweredKernel& k) {
  std::vector<Node*> r;
  for (size_t a = 0; a < k.args.size(); ++a)
    if (k.kernel.args[a].output) r.push_back(k.args[a]);
  return r;
}

// Multi-output kernels: a stage-free kernel moves into an earlier one over the same domain when
// they share an input and everything it reads exists by then (optimizer updates of a parameter,
// its momentum and variance become one pass over the gradient).
std::vector<LoweredKernel> merge_siblings(std::vector<LoweredKernel> ks,
                                          const std::function<bool(Node*)>& is_boundary) {
  std::unordered_map<Node*, size_t> made_by; // kernel output -> kernel position
  for (size_t i = 0; i < ks.size(); ++i)
    for (Node* r : roots_of(ks[i])) made_by[r] = i;
  std::vector<bool> gone(ks.size(), false);
  for (size_t j = 0; j < ks.size(); ++j) {
    if (!ks[j].kernel.stages.empty()) continue;
    for (size_t i = 0; i < j; ++i) {
      if (gone[i] || !ks[i].kernel.stages.empty() ||
          roots_of(ks[i])[0]->shape != roots_of(ks[j])[0]->shape)
        continue;
      bool ready = true, shared = false;
      for (size_t a = 0; a < ks[j].args.size(); ++a) {
        if (ks[j].kernel.args[a].output) continue;
        Node* in = ks[j].args[a];
        auto it = made_by.find(in);
        ready = ready && (it == made_by.end() || it->second < i);
        shared = shared || std::count(ks[i].args.begin(), ks[i].args.end(), in) > 0;
      }
      if (!ready || !shared) continue;
      std::vector<Node*> roots = roots_of(ks[i]);
      for (Node* r : roots_of(ks[j])) roots.push_back(r);
      try {
        ks[i] = lower_kernel(roots, is_boundary);
      } catch (const FusionConflict&) {
        continue;
      }
      for (Node* r : roots_of(ks[j])) made_by[r] = i;
      gone[j] = true;
      break;
    }
  }
  std::vector<LoweredKernel> out;
  for (size_t i = 0; i < ks.size(); ++i)
    if (!gone[i]) out.push_back(std::move(ks[i]));
  return out;
}

// Schedules and lowers every kernel; a fusion conflict makes the offending node a kernel
// output of its own and starts over (unfused, which always lowers, if that does not help).
std::vector<LoweredKernel> lower_all(const std::vector<Node*>& outputs, bool fusion,
                                     bool attention) {
  std::unordered_set<Node*> forced;
  for (;;) {
    std::vector<Node*> roots = schedule(outputs, fusion, attention, forced);
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
    return fusion ? merge_siblings(std::move(kernels), is_boundary) : kernels;
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
  // Not a simplification: accurate sums are part of every program's meaning.
  s.graph = block_long_sums(s.graph);
  step("sums", s.graph);
  s.kernels = lower_all(s.graph.raw(), opts.fusion, opts.attention);
  if (opts.on_step)
    for (auto& k : s.kernels) opts.on_step("kernels", print_kernel(k.kernel));
  return s;
}

} // namespace kiln
