// Gradient clipping by the global norm, like torch.nn.utils.clip_grad_norm_.
#pragma once
#include "kiln/tensor.h"

#include <vector>

namespace kiln::nn::utils {

// Scales every parameter's gradient by min(1, max_norm / (norm + 1e-6)), where norm is the L2
// norm of all their gradients together, and returns that norm (a 0-d tensor, f32 or f64 as the
// gradients). Lazy: the norm and the scaled gradients are graph nodes, so an optimizer step
// computes them in its own program, with no trip to the host. Parameters without a gradient are
// skipped.
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm,
                       Loc loc = Loc::current());

} // namespace kiln::nn::utils
