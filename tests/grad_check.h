// Gradient checks for tests: autodiff against central finite differences, in f64.
#pragma once
#include "test_util.h"

#include <functional>
#include <limits>

namespace kt {

using GradFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d sum(f(inputs) * w) / d inputs against central differences (w random, so every
// output element matters with its own weight). Inputs are f64, uniform in [lo, hi).
inline void check_grad(const GradFn& f, const std::vector<Shape>& shapes, double lo = -2,
                       double hi = 2, uint64_t seed = 1) {
  kiln::Generator gen(seed);
  std::vector<std::vector<double>> values;
  for (auto& s : shapes) {
    std::vector<double> v(kiln::numel(s));
    for (auto& x : v) x = lo + (hi - lo) * gen.uniform();
    values.push_back(v);
  }
  auto make = [&](const std::vector<std::vector<double>>& vals, bool grad) {
    std::vector<Tensor> ts;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor t = kiln::tensor(vals[i], shapes[i]);
      if (grad) t.requires_grad_();
      ts.push_back(t);
    }
    return ts;
  };
  std::vector<Tensor> xs = make(values, true);
  Tensor y = f(xs);
  std::vector<double> wv(y.numel());
  for (auto& w : wv) w = gen.uniform() + 0.5;
  Tensor w = kiln::tensor(wv, y.shape());
  auto loss = [&](const std::vector<Tensor>& in) { return (f(in) * w).sum(); };
  loss(xs).backward();
  const double eps = 1e-6;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor g = xs[i].grad();
    REQUIRE(g.defined());
    REQUIRE(g.shape() == shapes[i]);
    auto gv = g.to_vector<double>();
    for (size_t k = 0; k < values[i].size(); ++k) {
      auto plus = values, minus = values;
      plus[i][k] += eps;
      minus[i][k] -= eps;
      double fd =
          (loss(make(plus, false)).item<double>() - loss(make(minus, false)).item<double>()) /
          (2 * eps);
      INFO("input " << i << " element " << k << ": autodiff " << gv[k] << ", finite difference "
                    << fd);
      CHECK(values_close(gv[k], fd, 1e-5, 1e-6));
    }
  }
}

} // namespace kt
