#include "trace.h"

#include "ir/scalar_eval.h"
#include "runtime/config.h"
#include "runtime/realize.h"
#include "runtime/transfer.h"

#include <algorithm>
#include <limits>
#include <type_traits>

namespace kiln::trace {
namespace {
thread_local const char* g_label = nullptr;

// A lazy graph this many ops deep is realized where it stands (README, "When kiln realizes on
// its own"): accumulating a value over an epoch without realizing it is ordinary user code, and
// compiling one program of millions of nodes would cost more time and memory than it saves.
// Chains cut at the same depth are the same program, so the cuts compile once. Training steps
// stay far below it (24 pre-norm layers: about 1,000 ops from input to the deepest gradient); a
// smaller cut keeps the graph walked at each cut in cache (a 1,000,000-step chain traced in
// 2.3 s instead of 2.8 s with cuts at 10,000).
constexpr int64_t kAutoRealizeDepth = 4096;
} // namespace

LabelScope::LabelScope(const char* label) : prev_(g_label) {
  if (!g_label) g_label = label; // the outermost composite names its nodes
}
LabelScope::~LabelScope() { g_label = prev_; }

Device default_device() { return options().device; }

NodePtr trace_node(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attr attr, Loc loc,
                   Device device) {
  bool grad = false;
  for (auto& i : inputs) grad = grad || i->requires_grad;
  if (g_label) check_devices(inputs, g_label, loc); // else make_node names the primitive
  NodePtr n =
      kiln::make_node(op, dtype, std::move(shape), std::move(inputs), std::move(attr), loc, device);
  n->label = g_label;
  n->requires_grad = grad && is_float(dtype) && !NoGradGuard::active();
  if (n->depth >= kAutoRealizeDepth) realize_nodes({n.get()});
  return n;
}

Tensor make(Op op, DType dtype, Shape shape, std::initializer_list<Tensor> inputs, Attr attr,
            Loc loc) {
  std::vector<NodePtr> in;
  in.reserve(inputs.size());
  for (const Tensor& t : inputs) in.push_back(t.node());
  return Tensor(trace_node(op, dtype, std::move(shape), std::move(in), std::move(attr), loc));
}

Tensor constant(double value, DType dtype, Loc loc, bool param, Device device) {
  return Tensor(trace_node(Op::Const, dtype, {}, {}, ConstAttr{Scalar::of(dtype, value), param},
                           loc, device));
}

Tensor cast(const Tensor& x, DType dtype, Loc loc) {
  if (x.dtype() == dtype) return x;
  return make(Op::Cast, dtype, x.shape(), {x}, NoAttr{}, loc);
}

std::string describe(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_str(t.shape());
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, Loc loc) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x != y && x != 1 && y != 1)
      fail_at(loc, op,
              "shapes {} and {} cannot be broadcast: dim {} is {} vs {} (expected equal, or one of "
              "them 1)",
              shape_str(a), shape_str(b), i, x, y);
    out[i] = x == 1 ? y : x;
  }
  return out;
}

NodePtr broadcast_node(NodePtr x, const Shape& shape, const char* op, Loc loc) {
  if (x->shape == shape) return x;
  if (!shape_fits(shape, dtype_size(x->dtype))) // here, where the op's name is known
    fail_at(loc, op, "cannot broadcast {}{}: {}", dtype_name(x->dtype), shape_str(x->shape),
            shape_problem(shape, dtype_size(x->dtype)));
  // A literal broadcast to the same shape again (a loop's `acc = acc + x * 0.5`) reuses the last
  // such view, like literal_node() reuses the literal: one node per step fewer.
  thread_local std::weak_ptr<Node> last_literal_view;
  bool literal = x->op == Op::Const;
  if (NodePtr v = literal ? last_literal_view.lock() : nullptr;
      v && !v->inputs.empty() && v->inputs[0] == x && v->shape == shape)
    return v;
  // Only 1-dims added: a reshape aliases the same elements; else new dims lead, as in NumPy.
  Op view = x->numel() == numel(shape) ? Op::Reshape : Op::Expand;
  DType dtype = x->dtype; // (read before x moves into the inputs)
  NodePtr v = trace_node(view, dtype, shape, {std::move(x)}, NoAttr{}, loc);
  if (literal) last_literal_view = v;
  return v;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape, const char* op, Loc loc) {
  if (x.shape() == shape) return x;
  return Tensor(broadcast_node(x.node(), shape, op, loc));
}

DType result_type(std::initializer_list<const Operand*> ops) {
  std::optional<DType> dimmed, zerodim;
  int number_category = -1;
  for (const Operand* o : ops) {
    if (!o->is_tensor()) {
      number_category = std::max(number_category, o->category);
      continue;
    }
    auto& slot = o->tensor.dim() > 0 ? dimmed : zerodim;
    slot = slot ? promote(*slot, o->tensor.dtype()) : o->tensor.dtype();
  }
  std::optional<DType> r = dimmed;
  if (zerodim && (!r || dtype_category(*zerodim) > dtype_category(*r))) r = zerodim;
  if (number_category >= 0 && (!r || number_category > dtype_category(*r)))
    r = number_category == 2 ? DType::F32 : number_category == 1 ? DType::I64 : DType::Bool;
  return *r;
}

void check_number_fits(const Operand& o, DType dtype, std::string_view op) {
  if (o.category < 1 || is_float(dtype) || dtype == DType::Bool) return;
  dispatch_dtype(dtype, [&](auto x) {
    using U = decltype(x);
    if constexpr (std::is_integral_v<U> && !std::is_same_v<U, bool>) {
      auto lo = static_cast<int64_t>(std::numeric_limits<U>::min());
      auto hi = static_cast<int64_t>(std::numeric_limits<U>::max());
      bool fits = o.category == 1 ? o.integer >= lo && o.integer <= hi
                                  : o.number >= static_cast<double>(lo) &&
                                        o.number < static_cast<double>(hi) + 1.0; // NaN fails
      if (!fits)
        fail_at(o.loc, op, "the number {} does not fit the dtype {} it meets (expected {} to {})",
                o.category == 1 ? fmt::format("{}", o.integer) : fmt::format("{}", o.number),
                dtype_name(dtype), lo, hi);
    }
  });
}

NodePtr literal_node(const Operand& o, DType dtype, std::string_view op, bool bake) {
  check_number_fits(o, dtype, op);
  // An integer converts from its exact int64 value (a double holds only 53 bits).
  Scalar v = o.category == 1 ? eval_cast(Scalar{0, o.integer}, DType::I64, dtype)
                             : Scalar::of(dtype, o.number);
  bool param = !bake && !g_label && dtype != DType::Bool;
  ConstAttr attr{v, param};
  // A loop that scales by the same number every step makes one literal node, not one per step:
  // the last literal traced on this thread is reused while the same one comes back from the
  // same line (its location stays right in dumps).
  thread_local std::weak_ptr<Node> last;
  if (NodePtr n = last.lock(); n && n->op == Op::Const && n->dtype == dtype &&
                               n->get<ConstAttr>() == attr && n->label == g_label &&
                               n->loc.line() == o.loc.line() &&
                               std::string_view(n->loc.file_name()) == o.loc.file_name())
    return n;
  NodePtr n = trace_node(Op::Const, dtype, {}, {}, attr, o.loc);
  last = n;
  return n;
}

Tensor as_tensor(const Operand& o, DType dtype, std::string_view op, bool bake) {
  if (o.is_tensor()) return cast(o.tensor, dtype, o.loc);
  return Tensor(literal_node(o, dtype, op, bake));
}

std::shared_ptr<Storage> host_storage(const Tensor& t) {
  t.realize();
  return to_device(t.node()->storage, Device::cpu());
}

void require(const Tensor& t, std::string_view op, Loc loc) {
  if (!t.defined()) fail_at(loc, op, "called on an undefined tensor");
}

Tensor floating(const Tensor& t, std::string_view op, Loc loc) {
  require(t, op, loc);
  if (t.dtype() == DType::Bool)
    fail_at(loc, op, "not defined for bool tensors (expected a numeric dtype)");
  return is_float(t.dtype()) ? t : cast(t, DType::F32, loc);
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op, Loc loc) {
  int64_t r = std::max<int64_t>(rank, 1); // 0-d tensors accept axis 0 and -1, like PyTorch
  if (axis < -r || axis >= r)
    fail_at(loc, op, "axis {} is out of range for a tensor of rank {} (expected {} <= axis < {})",
            axis, rank, -r, r);
  return axis < 0 ? axis + r : axis;
}

} // namespace kiln::trace
