// Basic layers: Linear, activations, Flatten, Softmax and Sequential.
#pragma once
#include "kiln/nn/functional.h"
#include "kiln/nn/module.h"

#include <functional>

namespace kiln::nn {

class Linear : public Module {
public:
  // Weight [out, in] and bias [out], initialised like PyTorch (U(-1/sqrt(in), 1/sqrt(in))).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

// A module that applies a function (activations, Flatten, Softmax).
class Lambda : public Module {
public:
  explicit Lambda(std::function<Tensor(const Tensor&)> fn) : fn_(std::move(fn)) {}
  Tensor forward(const Tensor& x) override { return fn_(x); }

private:
  std::function<Tensor(const Tensor&)> fn_;
};

struct ReLU : Lambda {
  ReLU() : Lambda([](const Tensor& x) { return x.relu(); }) {}
};
struct GELU : Lambda {
  explicit GELU(std::string approximate = "none")
      : Lambda([approximate](const Tensor& x) { return x.gelu(approximate); }) {}
};
struct SiLU : Lambda {
  SiLU() : Lambda([](const Tensor& x) { return x.silu(); }) {}
};
struct Tanh : Lambda {
  Tanh() : Lambda([](const Tensor& x) { return x.tanh(); }) {}
};
struct Sigmoid : Lambda {
  Sigmoid() : Lambda([](const Tensor& x) { return x.sigmoid(); }) {}
};
struct Softmax : Lambda {
  explicit Softmax(int64_t axis = -1)
      : Lambda([axis](const Tensor& x) { return functional::softmax(x, axis); }) {}
};
struct Flatten : Lambda {
  explicit Flatten(int64_t start = 1, int64_t end = -1)
      : Lambda([start, end](const Tensor& x) { return x.flatten(start, end); }) {}
};

// Runs its modules in order; they are registered as "0", "1", ...
class Sequential : public Module {
public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return children().size(); }
};

} // namespace kiln::nn
