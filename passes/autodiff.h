// Reverse-mode differentiation as a graph pass: gradient nodes are appended to the lazy graph,
// built from the same primitive ops (so they fuse, cache and differentiate again like any node).
#pragma once
#include "ir/node.h"

#include <unordered_map>

namespace kiln {

// Gradients of `output` (seeded with `seed`, a node of output's shape and dtype) with respect to
// every node in `wrt` that output depends on through nodes that require grad. Missing entries:
// no path. Throws kiln::Error naming the op when a path crosses an op with no gradient rule.
std::unordered_map<Node*, NodePtr> gradients(const NodePtr& output, const NodePtr& seed,
                                             const std::vector<Node*>& wrt);

} // namespace kiln
