// Parameter initialisation from the seeded generator (kiln::manual_seed or an explicit one).
#pragma once
#include "kiln/creation.h"

#include <string_view>
#include <utility>

namespace kiln::nn::init {

// torch.nn.init.calculate_gain: linear, conv*, sigmoid 1; tanh 5/3; relu sqrt(2);
// leaky_relu sqrt(2 / (1 + param^2)) (param = negative slope); selu 3/4.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);
// (fan_in, fan_out) of a weight [out, in, k...]: in * prod(k) and out * prod(k), like PyTorch.
std::pair<int64_t, int64_t> fans(const Shape& shape);

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
