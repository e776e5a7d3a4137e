// Graphviz DOT text of a graph: kernels (fusion groups) as clusters, dtype/shape on edges, the
// user's source line on each node.
#pragma once
#include "passes/fusion_view.h"

#include <string>

namespace kiln {

// groups may be empty (a graph that was not scheduled: no clusters).
std::string graph_dot(const std::vector<Node*>& roots, const std::vector<FusionGroup>& groups);

} // namespace kiln
