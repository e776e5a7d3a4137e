// Vector-Jacobian products of every differentiable primitive op, in one table keyed by op.
#pragma once
#include "passes/grad_builder.h"

#include <optional>

namespace kiln {

// Gradients of n's inputs given g, the gradient of n (n's shape and dtype). An entry is null
// when no gradient flows to that input (a condition, an integer input). nullopt: the op has no
// gradient rule at all (argmax, comparisons).
std::optional<std::vector<NodePtr>> vjp(const NodePtr& n, const NodePtr& g);

} // namespace kiln
