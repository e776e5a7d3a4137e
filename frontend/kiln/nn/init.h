// Parameter initialisation from the seeded generator (kiln::manual_seed or an explicit one).
#pragma once
#include "kiln/creation.h"

namespace kiln::nn::init {

// U(-b, b) with b = gain * sqrt(3 / fan_in): PyTorch's kaiming_uniform_ (gain sqrt(2) for ReLU).
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, double gain = 1.4142135623730951,
                       Generator* gen = nullptr);
// N(0, gain^2 / fan_in).
Tensor kaiming_normal(const Shape& shape, int64_t fan_in, double gain = 1.4142135623730951,
                      Generator* gen = nullptr);
// U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, double gain = 1.0,
                      Generator* gen = nullptr);
Tensor xavier_normal(const Shape& shape, int64_t fan_in, int64_t fan_out, double gain = 1.0,
                     Generator* gen = nullptr);
Tensor uniform(const Shape& shape, double lo, double hi, Generator* gen = nullptr);

} // namespace kiln::nn::init
