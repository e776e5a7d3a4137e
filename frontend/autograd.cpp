// Tensor autograd API: requires_grad, backward (the autodiff graph pass), grad accumulation,
// detach, in-place assignment and NoGradGuard.
#include "kiln/creation.h"
#include "passes/autodiff.h"
#include "trace.h"

#include <mutex>
#include <unordered_map>

namespace kiln {
namespace {

thread_local bool g_no_grad = false;

// Leaves that require grad -> the tensors (handles' shared state) whose grad() they feed.
class LeafRegistry {
public:
  void add(Node* n, const std::shared_ptr<TensorImpl>& impl) {
    std::lock_guard<std::mutex> lock(mu_);
    leaves_[n] = impl;
  }
  void remove(Node* n) {
    std::lock_guard<std::mutex> lock(mu_);
    leaves_.erase(n);
  }
  std::shared_ptr<TensorImpl> find(Node* n) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = leaves_.find(n);
    if (it == leaves_.end()) return nullptr;
    auto impl = it->second.lock();
    if (!impl || impl->node.get().get() != n) leaves_.erase(it); // gone or reassigned
    return impl && impl->node.get().get() == n ? impl : nullptr;
  }
  std::vector<Node*> nodes() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Node*> out;
    for (auto& [n, w] : leaves_) out.push_back(n);
    return out;
  }

private:
  std::mutex mu_;
  std::unordered_map<Node*, std::weak_ptr<TensorImpl>> leaves_;
};

LeafRegistry& registry() {
  static LeafRegistry* r = new LeafRegistry; // leaked: tensors may die during static destruction
  return *r;
}

// The tensors backward() ran from on this thread since its last take_backward_roots() (weakly:
// a loss the user dropped is not computed). Per thread: a model trained on another thread is not
// computed by this thread's optimizer step.
thread_local std::vector<std::weak_ptr<Node>> g_backward_roots;

} // namespace

NoGradGuard::NoGradGuard() : prev_(g_no_grad) { g_no_grad = true; }
NoGradGuard::~NoGradGuard() { g_no_grad = prev_; }
bool NoGradGuard::active() { return g_no_grad; }

Tensor& Tensor::requires_grad_(bool on, Loc loc) {
  trace::require(*this, "requires_grad_", loc);
  if (on && !is_float(dtype()))
    trace::fail_at(loc, "requires_grad_", "only floating point tensors can require grad, got {}",
                   trace::describe(*this));
  if (on && !node()->inputs.empty() && node()->requires_grad)
    trace::fail_at(loc, "requires_grad_",
                   "{} is computed from tensors that require grad; call it on a leaf (or detach() "
                   "first)",
                   trace::describe(*this));
  // A tensor no gradient flows into is a leaf, as in PyTorch (zeros(...).requires_grad_()):
  // its value is realized and becomes the leaf's buffer.
  if (on && !node()->inputs.empty())
    impl_->node.reset(make_buffer_node(dtype(), shape(), realize().node()->storage, loc, device()));
  node()->requires_grad = on;
  if (on)
    registry().add(node().get(), impl_);
  else
    registry().remove(node().get());
  return *this;
}

Tensor Tensor::grad() const {
  if (!impl_ || !impl_->grad.get()) return Tensor();
  return Tensor(impl_->grad.get());
}

void Tensor::zero_grad() {
  if (impl_) impl_->grad.reset();
}

void set_grad(const Tensor& t, const Tensor& g) { t.impl_->grad.reset(g.node()); }

namespace {

// The gradient that differentiation of `out` starts from: grad_output, or 1 for a scalar.
Tensor seed_for(const Tensor& out, const Tensor& grad_output, const char* op, Loc loc) {
  trace::require(out, op, loc);
  if (!out.requires_grad())
    trace::fail_at(loc, op, "{} does not require grad (no leaf with requires_grad_() feeds it)",
                   trace::describe(out));
  Tensor seed = grad_output;
  if (!seed.defined()) {
    if (out.numel() != 1)
      trace::fail_at(loc, op, "{} is not a scalar: pass a gradient of its shape",
                     trace::describe(out));
    seed = full(out.shape(), 1.0, {.dtype = out.dtype(), .device = out.device()}, loc);
  } else if (seed.shape() != out.shape()) {
    trace::fail_at(loc, op, "gradient {} does not match the tensor {} (expected equal shapes)",
                   trace::describe(seed), trace::describe(out));
  }
  return seed.to(out.dtype(), loc);
}

// backward() lets go of a graph (frees its root's inputs, and those of the nodes it ran through,
// once realized, as PyTorch frees the saved tensors), so differentiating through it again is an
// error, not a silent zero gradient.
// `order` is the graph under the root (topo_order, realized nodes walked through).
void check_graph_kept(const std::vector<Node*>& order, const char* op, Loc loc) {
  for (Node* n : order)
    if (n->backward_ran || (n->backward_passed && n->inputs.empty()))
      trace::fail_at(loc, op,
                     "backward() already ran {} {} (created at {}:{}), which lets go of its "
                     "graph as PyTorch does (expected each graph differentiated once: build the "
                     "expression again, or detach() what is kept across steps)",
                     n->backward_ran ? "from" : "through",
                     std::string(dtype_name(n->dtype)) + shape_str(n->shape), n->loc.file_name(),
                     n->loc.line());
}

// Marks the unrealized nodes that gradients flowed through, which let go of their graph when
// realized. Nodes realized already keep it (a second backward through them still works).
void mark_backward_passed(const std::vector<Node*>& order, const Node* root) {
  for (Node* n : order)
    if (n != root && n->requires_grad && !n->realized() && !n->inputs.empty())
      n->backward_passed = true;
}

// Custom gradient rules by node, each with a weak reference that tells a dead node from a new
// one at the same address.
struct CustomRules {
  std::mutex mu;
  std::unordered_map<const Node*, std::pair<std::weak_ptr<Node>, CustomVjp>> rules;
};
CustomRules& custom_rules() {
  static CustomRules r;
  return r;
}

CustomVjp custom_vjp() {
  return [](const NodePtr& n, const NodePtr& g) -> std::optional<CustomGrads> {
    CustomVjp rule;
    {
      auto& r = custom_rules();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.rules.find(n.get());
      if (it == r.rules.end() || it->second.first.lock() != n) return std::nullopt;
      rule = it->second.second;
    }
    return rule(n, g);
  };
}

} // namespace

void trace::set_custom_grad(const Tensor& t, CustomVjp rule) {
  auto& r = custom_rules();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.rules.size() >= 64) // forget the rules of dead nodes
    for (auto it = r.rules.begin(); it != r.rules.end();)
      it = it->second.first.expired() ? r.rules.erase(it) : std::next(it);
  r.rules[t.node().get()] = {t.node(), std::move(rule)};
}

void Tensor::backward(const Tensor& grad_output, Loc loc) const {
  Tensor seed = seed_for(*this, grad_output, "backward", loc);
  std::vector<Node*> order = topo_order({node().get()}, /*stop_at_realized=*/false);
  check_graph_kept(order, "backward", loc);
  node()->backward_ran = true;
  mark_backward_passed(order, node().get());
  auto leaves = registry().nodes();
  auto grads = gradients(node(), seed.node(), leaves, custom_vjp());
  // A root realized already (its loss read by item()) lets go of its graph now; the gradient
  // nodes built above hold what they read.
  if (node()->realized()) node()->inputs.clear();
  for (auto& [leaf, g] : grads) {
    auto impl = registry().find(leaf);
    if (!impl) continue;
    Tensor holder;
    holder.impl_ = impl;
    Tensor prev = holder.grad();
    Tensor total = prev.defined() ? add(Operand(prev, loc), Operand(Tensor(g), loc)) : Tensor(g);
    set_grad(holder, total);
  }
  // A loop that steps without an optimizer never takes them: forget the dropped ones.
  std::erase_if(g_backward_roots, [](const std::weak_ptr<Node>& w) { return w.expired(); });
  g_backward_roots.push_back(node());
}

std::vector<Tensor> autograd::grad(const std::vector<Tensor>& outputs,
                                   const std::vector<Tensor>& inputs,
                                   const std::vector<Tensor>& grad_outputs, bool create_graph,
                                   bool allow_unused, Loc loc) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    trace::fail_at(loc, "grad", "{} grad_outputs for {} outputs (expected one each, or none)",
                   grad_outputs.size(), outputs.size());
  std::vector<Node*> wrt;
  for (auto& x : inputs) {
    trace::require(x, "grad", loc);
    if (!x.requires_grad())
      trace::fail_at(loc, "grad", "input {} does not require grad", trace::describe(x));
    wrt.push_back(x.node().get());
  }
  std::vector<Tensor> total(inputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor seed =
        seed_for(outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i], "grad", loc);
    check_graph_kept(topo_order({outputs[i].node().get()}, /*stop_at_realized=*/false), "grad",
                     loc);
    auto grads = gradients(outputs[i].node(), seed.node(), wrt, custom_vjp());
    for (size_t k = 0; k < inputs.size(); ++k) {
      auto it = grads.find(wrt[k]);
      if (it == grads.end()) continue;
      Tensor g(it->second);
      total[k] = total[k].defined() ? add(Operand(total[k], loc), Operand(g, loc)) : g;
    }
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!total[k].defined() && !allow_unused)
      trace::fail_at(loc, "grad",
                     "input {} ({}) is not used by the outputs (pass allow_unused = true for an "
                     "undefined gradient)",
                     k, trace::describe(inputs[k]));
    if (total[k].defined() && !create_graph) total[k] = total[k].detach(loc);
  }
  return total;
}

std::vector<Tensor> trace::take_backward_roots() {
  std::vector<Tensor> out;
  for (auto& w : g_backward_roots)
    if (NodePtr n = w.lock(); n && !n->realized() && n->user_refs.load() > 0) out.emplace_back(n);
  g_backward_roots.clear();
  return out;
}

Tensor Tensor::detach(Loc loc) const {
  trace::require(*this, "detach", loc);
  if (is_realized())
    return Tensor(make_buffer_node(dtype(), shape(), node()->storage, loc, device()));
  // A same-dtype cast marks the cut: the value flows, gradients do not (simplify removes it).
  NodePtr n = make_node(Op::Cast, dtype(), shape(), {node()}, NoAttr{}, loc);
  return Tensor(std::move(n));
}

void Tensor::assign(const Tensor& value, Loc loc) {
  trace::require(*this, "assign", loc);
  trace::require(value, "assign", loc);
  if (value.shape() != shape() || value.dtype() != dtype())
    trace::fail_at(loc, "assign", "value {} does not match {} (expected the same shape and dtype)",
                   trace::describe(value), trace::describe(*this));
  bool leaf = requires_grad() && node()->inputs.empty();
  Tensor v = value;
  if (leaf && !value.node()->inputs.empty()) {
    // A parameter updated by hand stays a parameter, as PyTorch's in-place update under no_grad:
    // its new value is computed now and becomes a fresh leaf. With gradients flowing into the
    // value, that update would be part of the graph (PyTorch raises too).
    if (value.requires_grad())
      trace::fail_at(loc, "assign",
                     "{} requires grad and is a leaf: the value {} is computed with gradients "
                     "(expected it computed under kiln::NoGradGuard, or value.detach())",
                     trace::describe(*this), trace::describe(value));
    v = Tensor(value).realize().detach();
  }
  if (leaf) registry().remove(node().get());
  impl_->node.reset(v.node());
  if (leaf && v.node()->inputs.empty()) {
    node()->requires_grad = true;
    registry().add(node().get(), impl_);
  }
}

} // namespace kiln
