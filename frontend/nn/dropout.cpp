// The Dropout layer over functional::dropout.
#include "kiln/nn/dropout.h"

#include "kiln/nn/functional.h"

namespace kiln::nn {

Dropout::Dropout(double p, std::optional<uint64_t> seed) : p_(p) {
  if (p < 0 || p >= 1) throw Error(fmt::format("[Dropout] probability {} is outside [0, 1)", p));
  if (seed) gen_.emplace(*seed);
}

Tensor Dropout::forward(const Tensor& x, Loc loc) {
  return functional::dropout(x, p_, is_training(), gen_ ? &*gen_ : nullptr, loc);
}

} // namespace kiln::nn
