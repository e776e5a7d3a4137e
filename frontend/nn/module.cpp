// Module bookkeeping: registration, named traversal, train/eval, device moves.
#include "kiln/nn/module.h"

#include "../trace.h"

#include <algorithm>
#include <utility>

namespace kiln::nn {
namespace {

NamedTensors collect(const Module& m, bool recurse, bool params, bool remove_duplicate,
                     const NamedTensors& own) {
  NamedTensors out = own;
  if (recurse)
    for (auto& [name, child] : m.children()) {
      NamedTensors sub =
          params ? child->named_parameters(true, false) : child->named_buffers(true, false);
      for (auto& [n, t] : sub) out.emplace_back(name + "." + n, t);
    }
  if (!remove_duplicate) return out;
  // An optimizer given a shared weight twice would update it twice per step.
  NamedTensors unique;
  for (auto& entry : out)
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const auto& u) { return u.second.same(entry.second); }))
      unique.push_back(entry);
  return unique;
}

// The module whose forward(x) is calling forward(x, loc) on this thread: if that lands back in
// forward(x), the module overrides neither.
thread_local const Module* g_forwarding = nullptr;

} // namespace

Tensor Module::forward(const Tensor& x) {
  if (g_forwarding == this)
    throw Error("[Module] forward is not overridden (override forward(x) or forward(x, loc))");
  const Module* prev = std::exchange(g_forwarding, this);
  struct Restore {
    const Module* prev;
    ~Restore() { g_forwarding = prev; }
  } restore{prev};
  return forward(x, Loc::current());
}

Tensor Module::forward(const Tensor& x, Loc) { return forward(x); }

NamedTensors Module::named_parameters(bool recurse, bool remove_duplicate) const {
  return collect(*this, recurse, true, remove_duplicate, params_);
}

NamedTensors Module::named_buffers(bool recurse, bool remove_duplicate) const {
  return collect(*this, recurse, false, remove_duplicate, buffers_);
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  auto move = [&](const Tensor& t) { return t.to(device).realize().detach(); };
  for (const NamedTensors& all : {named_parameters(), named_buffers()})
    for (auto [name, t] : all) {
      if (t.device() == device) continue;
      Tensor g = t.grad();
      t.assign(move(t));
      if (g.defined()) set_grad(t, move(g));
    }
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::check_registration(const std::string& name, const char* kind, bool defined) const {
  auto taken = [&](const auto& entries) {
    return std::any_of(entries.begin(), entries.end(), [&](auto& e) { return e.first == name; });
  };
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error(
        fmt::format("[Module] {} name \"{}\" must be non-empty and without '.'", kind, name));
  if (taken(params_) || taken(buffers_) || taken(children_))
    throw Error(fmt::format("[Module] {} name \"{}\" is already registered (expected unique names)",
                            kind, name));
  if (!defined)
    throw Error(fmt::format("[Module] {} \"{}\" is {}", kind, name,
                            kind == std::string_view("module") ? "null" : "an undefined tensor"));
}

Tensor Module::register_parameter(std::string name, Tensor t) {
  check_registration(name, "parameter", t.defined());
  t = t.realize().detach(); // a leaf of its own
  t.requires_grad_();
  params_.emplace_back(std::move(name), t);
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  check_registration(name, "buffer", t.defined());
  t = t.realize().detach();
  buffers_.emplace_back(std::move(name), t);
  return t;
}

} // namespace kiln::nn
