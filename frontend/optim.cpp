// Optimizers: lazily built updates realized as one program per step.
#include "kiln/optim.h"

#include "kiln/creation.h"
#include "trace.h"

#include <charconv>
#include <cmath>

namespace kiln::optim {
namespace {

// A value that changes from step to step (the learning rate, a bias correction) as a kernel
// parameter of like's dtype. A plain number would do until it hits exactly 1 (a schedule's lr,
// Adam's 1 / (1 - beta2^t) after ~37,000 steps): x * 1 folds at trace time, and the step would
// become a different program.
Tensor hyper(double value, const Tensor& like) {
  return trace::constant(value, like.dtype(), Loc::current(), /*param=*/true);
}

} // namespace

Optimizer::Optimizer(std::vector<Tensor> params, double lr)
    : params_(std::move(params)), lr_(lr), initial_lr_(lr), updates_(params_.size(), 0) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) throw Error(fmt::format("[optim] parameter {} is an undefined tensor", i));
    if (!p.requires_grad())
      throw Error(fmt::format("[optim] parameter {} ({}) does not require grad (expected "
                              "parameters that train: leave frozen ones out of the list)",
                              i, trace::describe(p)));
    // PyTorch raises too: a parameter listed twice would be updated twice per step.
    for (size_t j = 0; j < i; ++j)
      if (params_[j].same(p))
        throw Error(fmt::format("[optim] parameter {} ({}) is the same tensor as parameter {} "
                                "(expected each parameter once)",
                                i, trace::describe(p), j));
  }
  if (!(lr >= 0)) throw Error(fmt::format("[optim] learning rate must be >= 0, got {}", lr));
}

namespace {
// Hyperparameters PyTorch's optimizers refuse too (NaN fails every check).
void check_option(bool ok, const char* optimizer, const char* name, double value,
                  const char* expected) {
  if (!ok) throw Error(fmt::format("[{}] {} must be {}, got {}", optimizer, name, expected, value));
}
} // namespace

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

Tensor& Optimizer::state_of(const std::string& name, size_t i) {
  for (auto& [n, v] : state_)
    if (n == name) return v[i];
  state_.emplace_back(name, std::vector<Tensor>(params_.size()));
  // Zeros from the host: realizing zeros() would compile a program per parameter shape.
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& p = params_[k];
    std::vector<uint8_t> bytes(std::max<size_t>(p.numel() * dtype_size(p.dtype()), 1));
    state_.back().second[k] = from_blob(bytes.data(), p.shape(), p.dtype()).to(p.device());
  }
  return state_.back().second[i];
}

void Optimizer::set_state(const std::string& name, size_t i, const Tensor& value) {
  pending_.emplace_back(&state_of(name, i), value);
}

void Optimizer::step(const std::vector<Tensor>& with) {
  NoGradGuard no_grad;
  ++steps_;
  // State follows parameters that moved (nn::Module::to) since the last step.
  for (auto& [name, v] : state_)
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].device() != params_[i].device()) v[i] = v[i].to(params_[i].device());
  std::vector<std::pair<size_t, Tensor>> updates;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    ++updates_[i];
    updates.emplace_back(i, update(i, params_[i], g));
  }
  std::vector<Tensor> roots;
  for (auto& [i, v] : updates) roots.push_back(v);
  for (auto& [slot, v] : pending_) roots.push_back(v);
  for (Tensor& loss : trace::take_backward_roots()) roots.push_back(loss);
  roots.insert(roots.end(), with.begin(), with.end());
  realize(roots);
  // The new values become fresh leaves, so the next step's graph starts from buffers again.
  for (auto& [i, v] : updates) params_[i].assign(v.detach());
  for (auto& [slot, v] : pending_) *slot = v.detach();
  pending_.clear();
}

nn::NamedTensors Optimizer::state() const {
  nn::NamedTensors out{{"step", tensor<int64_t>({steps_})}};
  for (size_t i = 0; i < params_.size(); ++i)
    out.emplace_back("step." + std::to_string(i), tensor<int64_t>({updates_[i]}));
  for (auto& [name, v] : state_)
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(name + "." + std::to_string(i), v[i]);
  return out;
}

void Optimizer::load_state(const nn::NamedTensors& state) {
  for (auto& [name, t] : state)
    if (name == "step") {
      steps_ = t.item<int64_t>();
      std::fill(updates_.begin(), updates_.end(), steps_); // unless "step.<i>" says otherwise
    }
  for (auto& [name, t] : state) {
    if (name == "step") continue;
    // A missing or malformed index (stoul would throw) leaves i out of range: reported below.
    size_t dot = name.rfind('.'), i = params_.size();
    if (dot != std::string::npos) {
      const char* end = name.data() + name.size();
      auto [p, ec] = std::from_chars(name.data() + dot + 1, end, i);
      if (ec != std::errc() || p != end) i = params_.size();
    }
    std::string kind = name.substr(0, dot);
    if (i < params_.size() && kind == "step" && t.numel() == 1) {
      updates_[i] = t.item<int64_t>();
      continue;
    }
    if (i >= params_.size() || !t.defined() || t.shape() != params_[i].shape() ||
        t.dtype() != params_[i].dtype())
      throw Error(fmt::format(
          "[optim] state entry \"{}\" {} does not match the parameters{}", name, trace::describe(t),
          i < params_.size() ? " (expected " + trace::describe(params_[i]) + ")" : ""));
    state_of(kind, i) = t.realize().detach();
  }
}

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  check_option(o.momentum >= 0, "SGD", "momentum", o.momentum, ">= 0");
  check_option(o.weight_decay >= 0, "SGD", "weight_decay", o.weight_decay, ">= 0");
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw Error("[SGD] Nesterov momentum needs momentum > 0 and dampening 0");
}

Tensor SGD::update(size_t i, const Tensor& p, const Tensor& grad) {
  Tensor g = grad;
  if (o_.weight_decay != 0) g = g + p * o_.weight_decay;
  if (o_.momentum != 0) {
    // The first step starts the buffer at g, as PyTorch does.
    Tensor buf =
        updates_of(i) == 1 ? g : state_of("momentum", i) * o_.momentum + g * (1 - o_.dampening);
    set_state("momentum", i, buf);
    g = o_.nesterov ? g + buf * o_.momentum : buf;
  }
  return p - g * hyper(lr_, g);
}

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  // As PyTorch checks: beta2 = 1 would divide by a zero bias correction (NaN parameters).
  check_option(o.beta1 >= 0 && o.beta1 < 1, "Adam", "beta1", o.beta1, "in [0, 1)");
  check_option(o.beta2 >= 0 && o.beta2 < 1, "Adam", "beta2", o.beta2, "in [0, 1)");
  check_option(o.eps >= 0, "Adam", "eps", o.eps, ">= 0");
  check_option(o.weight_decay >= 0, "Adam", "weight_decay", o.weight_decay, ">= 0");
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions o)
    : Adam(std::move(params), (o.decoupled = true, o)) {}

Tensor Adam::update(size_t i, const Tensor& p, const Tensor& grad) {
  Tensor g = grad, param = p;
  if (o_.weight_decay != 0) {
    if (o_.decoupled)
      param = p * hyper(1 - lr_ * o_.weight_decay, p);
    else
      g = g + p * o_.weight_decay;
  }
  Tensor m = state_of("exp_avg", i) * o_.beta1 + g * (1 - o_.beta1);
  Tensor v = state_of("exp_avg_sq", i) * o_.beta2 + g * g * (1 - o_.beta2);
  set_state("exp_avg", i, m);
  set_state("exp_avg_sq", i, v);
  double c1 = 1 - std::pow(o_.beta1, static_cast<double>(updates_of(i)));
  double c2 = 1 - std::pow(o_.beta2, static_cast<double>(updates_of(i)));
  // p - lr * (m / c1) / (sqrt(v / c2) + eps); c1, c2 and lr are kernel parameters.
  return param - (m * hyper(lr_ / c1, m)) / ((v * hyper(1 / c2, v)).sqrt() + o_.eps);
}

} // namespace kiln::optim
