// Learning-rate schedules as closed forms of the step count.
#include "kiln/lr_scheduler.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kiln::optim {

void LRScheduler::step() { opt_.set_lr(lr_at(++step_)); }

LambdaLR::LambdaLR(Optimizer& opt, std::function<double(int64_t)> factor)
    : LRScheduler(opt), factor_(std::move(factor)) {
  if (!factor_) throw Error("[LambdaLR] the factor function is empty");
  start();
}

double LambdaLR::lr_at(int64_t step) const { return base_lr_ * factor_(step); }

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw Error(fmt::format("[StepLR] step_size {} must be > 0", step_size));
  start();
}

double StepLR::lr_at(int64_t step) const {
  return base_lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

LinearLR::LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(opt), start_(start_factor), end_(end_factor), total_(total_iters) {
  if (!(start_factor > 0 && start_factor <= 1) || !(end_factor >= 0 && end_factor <= 1) ||
      total_iters <= 0)
    throw Error(fmt::format("[LinearLR] start_factor {} must be in (0, 1], end_factor {} in "
                            "[0, 1] and total_iters {} > 0",
                            start_factor, end_factor, total_iters));
  start();
}

double LinearLR::lr_at(int64_t step) const {
  double done = static_cast<double>(std::min(step, total_)) / static_cast<double>(total_);
  return base_lr_ * (start_ + (end_ - start_) * done);
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min)
    : LRScheduler(opt), t_max_(t_max), eta_min_(eta_min) {
  if (t_max <= 0) throw Error(fmt::format("[CosineAnnealingLR] t_max {} must be > 0", t_max));
  start();
}

double CosineAnnealingLR::lr_at(int64_t step) const {
  double phase = std::numbers::pi * static_cast<double>(step) / static_cast<double>(t_max_);
  return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(phase)) / 2;
}

SequentialLR::SequentialLR(Optimizer& opt, std::vector<std::shared_ptr<LRScheduler>> schedules,
                           std::vector<int64_t> milestones)
    : LRScheduler(opt), schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  if (schedules_.empty()) throw Error("[SequentialLR] expected at least one schedule, got none");
  if (milestones_.size() + 1 != schedules_.size())
    throw Error(fmt::format("[SequentialLR] {} schedules need {} milestones, got {}",
                            schedules_.size(), schedules_.size() - 1, milestones_.size()));
  for (auto& s : schedules_)
    if (!s || &s->optimizer() != &opt)
      throw Error("[SequentialLR] every schedule must be defined and drive the same optimizer");
  for (size_t i = 0; i < milestones_.size(); ++i)
    if (milestones_[i] <= (i ? milestones_[i - 1] : 0))
      throw Error(fmt::format("[SequentialLR] milestones must be positive and increasing, got {}",
                              fmt::join(milestones_, ", ")));
  start();
}

double SequentialLR::lr_at(int64_t step) const {
  size_t i = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return schedules_[i]->lr_at(step - (i ? milestones_[i - 1] : 0));
}

} // namespace kiln::optim
