#include "ir/node.h"

#include "ir/error.h"
#include "ir/node_index.h"
#include "ir/scalar_eval.h"

#include <algorithm>
#include <cstring>

namespace kiln {

// Converted like a cast from f64, so an integer literal holds what its dtype stores (-1 as u8 is
// 255) and every consumer (folding, codegen, the interpreter) sees the same value.
Scalar Scalar::of(DType t, double v) { return eval_cast(Scalar{v}, DType::F64, t); }

namespace {
uint64_t hash_double(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}
template <typename V> uint64_t hash_list(uint64_t h, const V& v) {
  h = hash_combine(h, v.size());
  for (auto x : v) h = hash_combine(h, static_cast<uint64_t>(x));
  return h;
}
uint64_t hash_scalar(uint64_t h, const Scalar& s) {
  return hash_combine(hash_combine(h, hash_double(s.f)), static_cast<uint64_t>(s.i));
}

std::string at(std::source_location loc) {
  return *loc.file_name() ? fmt::format(" (at {}:{})", loc.file_name(), loc.line()) : "";
}

[[noreturn]] void fail_shape(Op op, DType dtype, const Shape& shape, std::source_location loc) {
  fail(op_name(op), "{} result: {}{}", dtype_name(dtype), shape_problem(shape, dtype_size(dtype)),
       at(loc));
}

// A realized node lives on its device even if it was computed from literals.
bool pinned(const Node& n) { return n.realized() || !n.portable; }

// The first input that is pinned to a device, or null.
const Node* first_pinned(const std::vector<NodePtr>& inputs) {
  for (auto& in : inputs)
    if (pinned(*in)) return in.get();
  return nullptr;
}

uint64_t hash_device(Device d) {
  return static_cast<uint64_t>(d.kind) << 32 | static_cast<uint32_t>(d.index);
}

} // namespace

void check_devices(const std::vector<NodePtr>& inputs, std::string_view op,
                   std::source_location loc) {
  const Node* first = first_pinned(inputs);
  if (!first) return;
  for (auto& in : inputs)
    if (pinned(*in) && in->device != first->device)
      fail(op,
           "operands on different devices: {} and {} (expected one device; move a tensor "
           "with .to(device)){}",
           device_name(first->device), device_name(in->device), at(loc));
}

uint64_t hash_attr(const Attr& a, bool sizes) {
  uint64_t h = a.index();
  if (auto* c = std::get_if<ConstAttr>(&a))
    h = c->param ? hash_combine(h, 0x9a7a) : sizes ? hash_scalar(h, c->value) : h;
  if (auto* x = std::get_if<AxesAttr>(&a)) h = hash_list(h, x->axes);
  if (auto* p = std::get_if<PermuteAttr>(&a)) h = hash_list(h, p->perm);
  if (auto* s = std::get_if<SliceAttr>(&a))
    h = hash_list(sizes ? hash_list(h, s->start) : h, s->step);
  if (auto* p = std::get_if<PadAttr>(&a))
    h = hash_scalar(sizes ? hash_list(h, p->before) : hash_combine(h, p->before.size()), p->value);
  return h;
}

Node::~Node() {
  // The last owner of a long chain would destroy it one nested destructor per node. Instead the
  // outermost destructor on this thread drains a list of released inputs, and the destructors
  // it triggers only append to that list. (A raw pointer: trivially destructible thread_local.)
  thread_local std::vector<NodePtr>* drain = nullptr;
  if (drain) {
    for (auto& in : inputs) drain->push_back(std::move(in));
    return;
  }
  std::vector<NodePtr> pending = std::move(inputs);
  drain = &pending;
  while (!pending.empty()) {
    NodePtr last = std::move(pending.back());
    pending.pop_back();
  }
  drain = nullptr;
}

NodePtr make_node(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attr attr,
                  std::source_location loc, Device device) {
  int arity = op_arity(op);
  if (arity >= 0 && static_cast<int>(inputs.size()) != arity)
    fail("ir", "{} takes {} inputs, got {}", op_name(op), arity, inputs.size());
  // Every shape passes here, so element counts and byte sizes of nodes never overflow.
  if (!shape_fits(shape, dtype_size(dtype))) fail_shape(op, dtype, shape, loc);
  auto n = std::make_shared<Node>();
  n->op = op;
  n->dtype = dtype;
  n->shape = std::move(shape);
  n->inputs = std::move(inputs);
  n->attr = std::move(attr);
  n->loc = loc;
  check_devices(n->inputs, op_name(op), loc);
  const Node* pin = first_pinned(n->inputs);
  n->portable = !pin && (op == Op::Const || !n->inputs.empty());
  n->device = pin ? pin->device : n->inputs.empty() ? device : n->inputs[0]->device;
  uint64_t h = hash_combine(static_cast<uint64_t>(op), static_cast<uint64_t>(dtype));
  h = hash_combine(h, hash_device(n->device));
  h = hash_list(h, n->shape);
  h = hash_combine(h, hash_attr(n->attr));
  for (auto& in : n->inputs) {
    h = hash_combine(h, in->hash);
    n->depth = std::max(n->depth, in->realized() ? 0 : in->depth);
  }
  n->hash = h;
  n->depth += 1;
  return n;
}

NodePtr make_buffer_node(DType dtype, Shape shape, std::shared_ptr<Storage> storage,
                         std::source_location loc, std::optional<Device> device) {
  Device d = device ? *device : storage ? storage->device : Device::cpu();
  auto n = make_node(Op::Buffer, dtype, std::move(shape), {}, NoAttr{}, loc, d);
  n->storage = std::move(storage);
  return n;
}

NodePtr make_transfer_node(NodePtr x, Device d, std::source_location loc) {
  DType t = x->dtype;
  Shape shape = x->shape;
  NodePtr n = make_node(Op::Copy, t, std::move(shape), {std::move(x)}, NoAttr{}, loc);
  n->portable = false;
  n->device = d;
  n->hash = hash_combine(n->hash, hash_device(d)); // unlike a copy on the input's device
  return n;
}

std::vector<Node*> topo_order(const std::vector<Node*>& roots, bool stop_at_realized,
                              NodeIndex* index) {
  // Iterative post-order DFS: training graphs are deep enough to overflow a recursive one.
  std::vector<Node*> order;
  NodeIndex local;
  NodeIndex& seen = index ? *index : local;
  std::vector<std::pair<Node*, size_t>> stack;
  for (Node* r : roots) {
    if (!seen.insert(r).second) continue;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      bool leaf = stop_at_realized && n->realized();
      if (!leaf && next < n->inputs.size()) {
        Node* in = n->inputs[next++].get();
        if (seen.insert(in).second) stack.push_back({in, 0});
        continue;
      }
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

} // namespace kiln
