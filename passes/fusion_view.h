// Fusion groups of a schedule: which graph nodes each kernel computes (for dumps, DOT, profiles).
#pragma once
#include "passes/pipeline.h"

#include <string>

namespace kiln {

struct FusionGroup {
  const Kernel* kernel;
  std::vector<Node*> outputs; // graph nodes the kernel writes
  std::vector<Node*> inputs;  // graph nodes it reads from buffers
  std::vector<Node*> nodes;   // graph nodes computed inside it (outputs included), inputs first
};

// One group per kernel, in execution order. A node inlined into several kernels (recomputed)
// appears in each of their groups.
std::vector<FusionGroup> fusion_groups(const Schedule& s);

// Where the kernel's nodes came from: distinct node_origin() texts in graph order.
std::vector<std::string> group_origins(const FusionGroup& g);

// The rewritten graph's text, then one comment line per kernel naming the values it writes and
// reads ("# kernel k_sum_a34c1f writes %2 reads %0 fuses sum reshape"). Parses back as a graph.
std::string print_fused(const Schedule& s);

} // namespace kiln
