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
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  Tensor weight, bias;
};

// A module that applies a function (activations, Flatten, Softmax), given the caller's line or
// not.
class Lambda : public Module {
public:
  explicit Lambda(std::function<Tensor(const Tensor&, Loc)> fn) : fn_(std::move(fn)) {}
  explicit Lambda(std::function<Tensor(const Tensor&)> fn)
      : Lambda([fn = std::move(fn)](const Tensor& x, Loc) { return fn(x); }) {}
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override { return fn_(x, loc); }

private:
  std::function<Tensor(const Tensor&, Loc)> fn_;
};

struct ReLU : Lambda {
  ReLU() : Lambda([](const Tensor& x, Loc loc) { return x.relu(loc); }) {}
};
struct GELU : Lambda {
  explicit GELU(std::string approximate = "none")
      : Lambda([approximate](const Tensor& x, Loc loc) { return x.gelu(approximate, loc); }) {}
};
struct SiLU : Lambda {
  SiLU() : Lambda([](const Tensor& x, Loc loc) { return x.silu(loc); }) {}
};
struct Tanh : Lambda {
  Tanh() : Lambda([](const Tensor& x, Loc loc) { return x.tanh(loc); }) {}
};
struct Sigmoid : Lambda {
  Sigmoid() : Lambda([](const Tensor& x, Loc loc) { return x.sigmoid(loc); }) {}
};
struct Softmax : Lambda {
  explicit Softmax(int64_t axis = -1)
      : Lambda([axis](const Tensor& x, Loc loc) { return functional::softmax(x, axis, loc); }) {}
};
struct Flatten : Lambda {
  explicit Flatten(int64_t start = 1, int64_t end = -1)
      : Lambda([start, end](const Tensor& x, Loc loc) { return x.flatten(start, end, loc); }) {}
};

// Runs its modules in order; they are registered as "0", "1", ...
class Sequential : public Module {
public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  // Errors in any of the modules name the line that called the Sequential.
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  size_t size() const { return children().size(); }
};

} // namespace kiln::nn
