// Reverse-mode differentiation as a graph pass: gradient nodes are appended to the lazy graph,
// built from the same primitive ops (so they fuse, cache and differentiate again like any node).
#pragma once
#include "ir/node.h"

#include <functional>
#include <optional>
#include <unordered_map>

namespace kiln {

// Gradients of `output` (seeded with `seed`, a node of output's shape and dtype) with respect to
// every node in `wrt` that output depends on through nodes that require grad. Missing entries:
// no path. Throws kiln::Error naming the op when a path crosses an op with no gradient rule.
//
// `custom`, where given, may replace the gradient rule of a node: it returns the gradients of the
// node's inputs (null: none) and of further nodes below it (a convolution's product gives the
// gradient of its input image whole, as a convolution, instead of through its im2col view).
struct CustomGrads {
  std::vector<NodePtr> inputs;
  std::vector<std::pair<Node*, NodePtr>> below;
};
using CustomVjp = std::function<std::optional<CustomGrads>(const NodePtr& n, const NodePtr& g)>;
std::unordered_map<Node*, NodePtr> gradients(const NodePtr& output, const NodePtr& seed,
                                             const std::vector<Node*>& wrt,
                                             const CustomVjp& custom = {});

} // namespace kiln
