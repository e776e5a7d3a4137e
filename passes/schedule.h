// Scheduling: which graph nodes become kernel outputs (every other node is inlined into them).
#pragma once
#include "ir/node.h"

#include <unordered_set>

namespace kiln {

// A reshape of a contiguous buffer is the same bytes: outputs that are reshapes (of reshapes) of
// a computed or realized node share its buffer instead of getting a copy kernel.
Node* storage_source(Node* n);

// Kernel outputs in execution (topological) order. Unfused: one kernel per compute node, views and
// literals inlined into their consumers. Fused: a node is inlined into every kernel that uses it,
// except reductions and expensive elementwise ops used by several kernels (written once instead
// of recomputed) and the nodes in `forced` (fusion conflicts found by lowering). `attention`:
// an attention pattern may be one kernel (the backend runs such kernels).
std::vector<Node*> schedule(const std::vector<Node*>& outputs, bool fusion, bool attention,
                            const std::unordered_set<Node*>& forced);

} // namespace kiln
