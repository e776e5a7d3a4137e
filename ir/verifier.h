// Graph-IR verifier: every node's dtype, shape and attribute consistent with its inputs.
#pragma once
#include "ir/node.h"

#include <string>

namespace kiln {

// Empty string when the node is well formed, else what is wrong.
std::string verify_node(const Node& n);
// Throws kiln::Error naming the first malformed node of the graph (stage names the caller).
void verify_graph(const std::vector<Node*>& roots, std::string_view stage);

} // namespace kiln
