#include "kiln/nn/layers.h"

#include "kiln/nn/init.h"

#include <cmath>

namespace kiln::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, Generator* gen) {
  if (in_features <= 0 || out_features <= 0)
    throw Error("[Linear] features must be positive, got in " + std::to_string(in_features) +
                ", out " + std::to_string(out_features));
  double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight =
      register_parameter("weight", init::uniform({out_features, in_features}, -bound, bound, gen));
  if (with_bias)
    bias = register_parameter("bias", init::uniform({out_features}, -bound, bound, gen));
}

Tensor Linear::forward(const Tensor& x, Loc loc) {
  return functional::linear(x, weight, bias, loc);
}

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(size()), std::move(m));
}

Tensor Sequential::forward(const Tensor& x, Loc loc) {
  Tensor y = x;
  for (auto& [name, m] : children()) {
    try {
      y = m->forward(y, loc);
    } catch (const Error& e) { // the op and the caller's line say what and where, not which layer
      throw Error(fmt::format("{} (in Sequential layer {})", e.what(), name));
    }
  }
  return y;
}

} // namespace kiln::nn
