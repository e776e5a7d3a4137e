// kiln::nn::Module: the base of layers and models. It registers named parameters, buffers and
// submodules so optimizers, train()/eval() and state saving can find them.
#pragma once
#include "kiln/tensor.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
public:
  virtual ~Module() = default;
  // A module overrides one of the two. The built-in layers take `loc`, the line that called
  // them, so that their errors point at the user's code; a module that overrides forward(x)
  // alone works as before.
  virtual Tensor forward(const Tensor& x);
  virtual Tensor forward(const Tensor& x, Loc loc);
  Tensor operator()(const Tensor& x, Loc loc = Loc::current()) { return forward(x, loc); }

  // Dotted names, submodules' entries prefixed with their name ("0.weight", "fc1.bias"). A tensor
  // reached twice (a module used twice: shared weights) is listed once, under its first name,
  // unless remove_duplicate is false (as in PyTorch; state_dict keeps every name).
  NamedTensors named_parameters(bool recurse = true, bool remove_duplicate = true) const;
  NamedTensors named_buffers(bool recurse = true, bool remove_duplicate = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

  void train(bool on = true); // also for every submodule
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer (and a parameter's accumulated gradient) to `device`, in
  // place: handles held elsewhere (an optimizer's) see the moved values. An optimizer's state
  // follows its parameters at its next step.
  void to(Device device);
  void to(const std::string& device) { to(parse_device(device)); } // "cpu", "cuda", "cuda:1"
  void zero_grad();

protected:
  // Registers t (a leaf) as a parameter: it requires grad; the returned handle shares it.
  Tensor register_parameter(std::string name, Tensor t);
  Tensor register_buffer(std::string name, Tensor t);
  template <typename M> std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    check_registration(name, "module", m != nullptr);
    children_.emplace_back(std::move(name), m);
    return m;
  }

private:
  // Throws kiln::Error for an empty or dotted name, a name already registered (state
  // dictionaries need each entry once) and a null module or undefined tensor, as PyTorch's
  // register_* do; a null module crashed the first forward.
  void check_registration(const std::string& name, const char* kind, bool defined) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

} // namespace kiln::nn
