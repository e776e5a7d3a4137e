// The compiler pipeline of one program, top to bottom: graph passes, scheduling, lowering.
#pragma once
#include "passes/lower.h"
#include "passes/rewrite.h"

#include <functional>
#include <string_view>

namespace kiln {

struct PipelineOptions {
  bool verify_each = true;
  bool fusion = true;    // false: one kernel per compute node (the unfused baseline)
  bool simplify = true;  // false: skip the graph passes (to bisect a miscompile)
  bool attention = true; // false: no fused attention kernels (a backend that cannot run them)
  // Called after each named step with its text form (KILN_DUMP and kiln-opt hook in here).
  std::function<void(std::string_view step, const std::string& text)> on_step;
};

// The graph passes in pipeline order.
const std::vector<GraphPass>& graph_passes();

struct Schedule {
  std::vector<LoweredKernel> kernels; // in execution order
  // The rewritten graph: outputs[i] computes the pipeline's i-th output. Kernels refer to its
  // nodes, so the schedule keeps them alive.
  Graph graph;
};

// Compiles the subgraph that computes `outputs` (all unrealized) into kernels.
Schedule run_pipeline(const std::vector<Node*>& outputs, const PipelineOptions& opts);

} // namespace kiln
