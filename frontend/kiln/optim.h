// kiln::optim: SGD (momentum, Nesterov, weight decay), Adam and AdamW. A step builds every
// update lazily and realizes them together, so forward, backward and update run as one program;
// the learning rate and bias corrections are kernel parameters, so changing them never recompiles.
#pragma once
#include "kiln/nn/module.h"

namespace kiln::optim {

class Optimizer {
public:
  Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;

  void zero_grad();
  // Applies one update to every parameter that has a gradient. The same program computes the
  // tensors backward() ran from that the caller still holds (the loss) and those in `with`
  // (metrics of the same forward pass, such as the batch accuracy).
  void step(const std::vector<Tensor>& with = {});
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  double initial_lr() const { return initial_lr_; } // the lr it was made with: schedules scale it
  int64_t steps() const { return steps_; }

  // Optimizer state for saving and restoring: the step count ("step"), each parameter's
  // ("step.<i>") and per-parameter buffers ("exp_avg.<i>"). A state without "step.<i>" entries
  // counts every parameter's steps as "step".
  nn::NamedTensors state() const;
  void load_state(const nn::NamedTensors& state);

protected:
  // The new value of parameter i given its gradient; writes new state through set_state().
  virtual Tensor update(size_t i, const Tensor& p, const Tensor& g) = 0;
  // A per-parameter state buffer ("momentum", "exp_avg", ...), zeros of the parameter's shape
  // until first set.
  Tensor& state_of(const std::string& name, size_t i);
  void set_state(const std::string& name, size_t i, const Tensor& value);
  // The steps that updated parameter i, this one included: PyTorch counts them per parameter,
  // so one whose first gradient comes late (or a step without gradients) starts its momentum
  // and Adam's bias corrections afresh.
  int64_t updates_of(size_t i) const { return updates_[i]; }

  std::vector<Tensor> params_;
  double lr_, initial_lr_;
  int64_t steps_ = 0;

private:
  std::vector<int64_t> updates_;
  std::vector<std::pair<std::string, std::vector<Tensor>>> state_;
  std::vector<std::pair<Tensor*, Tensor>> pending_; // state updates of the current step
};

struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
public:
  SGD(std::vector<Tensor> params, SGDOptions o);

protected:
  Tensor update(size_t i, const Tensor& p, const Tensor& g) override;

private:
  SGDOptions o_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false; // AdamW: weight decay applied to the parameter, not the gradient
};

class Adam : public Optimizer {
public:
  Adam(std::vector<Tensor> params, AdamOptions o);

protected:
  Tensor update(size_t i, const Tensor& p, const Tensor& g) override;

private:
  AdamOptions o_;
};

class AdamW : public Adam {
public:
  AdamW(std::vector<Tensor> params, AdamOptions o);
};

} // namespace kiln::optim
