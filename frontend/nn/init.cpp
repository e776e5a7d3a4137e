// Parameter initialisation (Kaiming, Xavier, uniform) and PyTorch's gain and fan rules.
#include "kiln/nn/init.h"

#include <cmath>
#include <string>

namespace kiln::nn::init {

double calculate_gain(std::string_view nl, double param) {
  if (nl == "linear" || nl == "identity" || nl == "sigmoid" || nl.starts_with("conv")) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nl == "selu") return 0.75;
  throw Error("[calculate_gain] unknown nonlinearity \"" + std::string(nl) +
              "\" (expected linear, conv1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu)");
}

std::pair<int64_t, int64_t> fans(const Shape& shape) {
  if (shape.size() < 2)
    throw Error("[init::fans] fan in and fan out need a weight of at least 2 dims, got " +
                shape_str(shape));
  int64_t field = 1;
  for (size_t d = 2; d < shape.size(); ++d) field *= shape[d];
  return {shape[1] * field, shape[0] * field};
}

Tensor uniform(const Shape& shape, double lo, double hi, Generator* gen) {
  return (rand(shape, DType::F32, gen) * (hi - lo) + lo).realize();
}

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, double gain, Generator* gen) {
  double b = gain * std::sqrt(3.0 / static_cast<double>(std::max<int64_t>(fan_in, 1)));
  return uniform(shape, -b, b, gen);
}

Tensor kaiming_normal(const Shape& shape, int64_t fan_in, double gain, Generator* gen) {
  return (randn(shape, DType::F32, gen) *
          (gain / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)))))
      .realize();
}

Tensor xavier_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, double gain,
                      Generator* gen) {
  double b = gain * std::sqrt(6.0 / static_cast<double>(std::max<int64_t>(fan_in + fan_out, 1)));
  return uniform(shape, -b, b, gen);
}

Tensor xavier_normal(const Shape& shape, int64_t fan_in, int64_t fan_out, double gain,
                     Generator* gen) {
  double s = gain * std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fan_in + fan_out, 1)));
  return (randn(shape, DType::F32, gen) * s).realize();
}

} // namespace kiln::nn::init
