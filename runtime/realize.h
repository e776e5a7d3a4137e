// realize(): the unrealized subgraph under some roots -> program (cached) -> executed buffers.
#pragma once
#include "ir/node.h"

namespace kiln {

// Computes every root, plus every node of the subgraph a user Tensor still holds, and binds
// the results to those nodes. A structurally identical subgraph reuses its compiled program.
void realize_nodes(const std::vector<Node*>& roots);

} // namespace kiln
