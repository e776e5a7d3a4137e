// Learning-rate schedules, like torch.optim.lr_scheduler. Each sets the optimizer's lr, a kernel
// parameter, so a changing rate never recompiles the step. Schedules are closed forms of the step
// count, scaled from the optimizer's initial_lr().
#pragma once
#include "kiln/optim.h"

#include <functional>
#include <memory>

namespace kiln::optim {

class LRScheduler {
public:
  virtual ~LRScheduler() = default;
  // Advances one step (an iteration or an epoch, as the caller counts them) and sets the lr.
  void step();
  int64_t last_step() const { return step_; }
  double last_lr() const { return opt_.lr(); }
  const Optimizer& optimizer() const { return opt_; }
  // The learning rate after `step` steps.
  virtual double lr_at(int64_t step) const = 0;

protected:
  explicit LRScheduler(Optimizer& opt) : opt_(opt), base_lr_(opt.initial_lr()) {}
  // Sets the lr of step 0; each schedule's constructor calls it once it can answer lr_at.
  void start() { opt_.set_lr(lr_at(0)); }
  Optimizer& opt_;
  double base_lr_;

private:
  int64_t step_ = 0;
};

// base_lr * factor(step).
class LambdaLR : public LRScheduler {
public:
  LambdaLR(Optimizer& opt, std::function<double(int64_t)> factor);
  double lr_at(int64_t step) const override;

private:
  std::function<double(int64_t)> factor_;
};

// base_lr * gamma^(step / step_size), step_size > 0.
class StepLR : public LRScheduler {
public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t step) const override;

private:
  int64_t step_size_;
  double gamma_;
};

// base_lr times a factor going linearly from start_factor (in (0, 1]) to end_factor (in [0, 1])
// over total_iters steps, then staying there: a linear warm-up.
class LinearLR : public LRScheduler {
public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);
  double lr_at(int64_t step) const override;

private:
  double start_, end_;
  int64_t total_;
};

// eta_min + (base_lr - eta_min) * (1 + cos(pi * step / t_max)) / 2: cosine decay over t_max steps.
class CosineAnnealingLR : public LRScheduler {
public:
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0);
  double lr_at(int64_t step) const override;

private:
  int64_t t_max_;
  double eta_min_;
};

// The schedules one after another: schedule i runs from milestones[i - 1] (0 for the first),
// counting its own steps from there. Warm-up then cosine decay:
//   SequentialLR(opt, {std::make_shared<LinearLR>(opt, 0.01, 1.0, warmup),
//                      std::make_shared<CosineAnnealingLR>(opt, total - warmup)}, {warmup})
class SequentialLR : public LRScheduler {
public:
  SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedules,
               std::vector<int64_t> milestones);
  double lr_at(int64_t step) const override;

private:
  std::vector<std::shared_ptr<LRScheduler>> schedules_;
  std::vector<int64_t> milestones_;
};

} // namespace kiln::optim
