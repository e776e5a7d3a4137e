// Scheduling: which graph nodes become kernel outputs (all other nodes are inlined into them).
#pragma once
#include "ir/node.h"

#include <unordered_set>

namespace kiln {

// A reshape of a contiguous buffer is the same bytes: outputs that are reshapes (of reshapes) of
// a computed or realized node share its buffer instead of getting a copy kernel.
Node* storage_source(Node* n);

// One kernel per compute node (elementwise, reduction, matmul), in topological order; views and
// literals are inlined into their consumers. Outputs that are views or literals get a copy kernel.
std::vector<Node*> schedule_unfused(const std::vector<Node*>& outputs);

} // namespace kiln
