// The Dropout layer: zeroes elements with probability p in training mode (scaling the rest by
// 1 / (1 - p)), the identity in eval mode; its masks come from a seeded generator.
#pragma once
#include "kiln/creation.h"
#include "kiln/nn/module.h"

#include <optional>

namespace kiln::nn {

class Dropout : public Module {
public:
  // With a seed the layer draws from a generator of its own (reproducible whatever else draws
  // random numbers); without one, from the global generator (kiln::manual_seed).
  explicit Dropout(double p = 0.5, std::optional<uint64_t> seed = {});
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  double p() const { return p_; }

private:
  double p_;
  std::optional<Generator> gen_;
};

} // namespace kiln::nn
