#include "kiln/nn/init.h"

#include <cmath>

namespace kiln::nn::init {

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
