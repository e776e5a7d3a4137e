// Elementwise ops: unary math, binary arithmetic/comparison with broadcasting, where, clamp.
#include "trace.h"

#include <array>
#include <cmath>

namespace kiln {
using trace::fail_at;

namespace {

bool float_only(Op op) {
  switch (op) {
  case Op::Exp:
  case Op::Log:
  case Op::Log1p:
  case Op::Expm1:
  case Op::Sqrt:
  case Op::Rsqrt:
  case Op::Sin:
  case Op::Cos:
  case Op::Tanh:
  case Op::Sigmoid:
  case Op::Erf:
  case Op::Reciprocal:
    return true;
  default:
    return false;
  }
}

Tensor unary(Op op, const Tensor& x, Loc loc) {
  trace::require(x, op_name(op), loc);
  if (op == Op::Neg && x.dtype() == DType::Bool)
    fail_at(
        loc, "neg",
        "negation of a bool tensor is not supported (expected a numeric dtype); use logical_not");
  DType t = float_only(op) && !is_float(x.dtype()) ? DType::F32 : x.dtype();
  Tensor in = trace::cast(x, t, loc);
  return trace::make(op, op == Op::LogicalNot ? DType::Bool : t, x.shape(), {in}, NoAttr{}, loc);
}

// Broadcasts operands (at most 3) to one shape in a common dtype. Nodes in a fixed array:
// elementwise ops are traced by the million in loops, and a vector or a Tensor handle per
// operand was one more allocation each.
std::array<NodePtr, 3> prepare(const char* name, std::initializer_list<const Operand*> ops,
                               DType dtype, Loc loc, bool bake = false) {
  const Shape* shape = nullptr; // the operands' shape while they agree (no copy: traced per op)
  Shape joined;
  for (const Operand* o : ops) {
    if (!o->is_tensor()) continue;
    if (!o->tensor.defined()) fail_at(loc, name, "called on an undefined tensor");
    if (!shape || *shape == o->tensor.shape()) {
      if (!shape) shape = &o->tensor.shape();
      continue;
    }
    joined = trace::broadcast_shapes(*shape, o->tensor.shape(), name, loc);
    shape = &joined;
  }
  if (!shape) shape = &joined; // numbers only: a 0-d result
  std::array<NodePtr, 3> out;
  size_t i = 0;
  for (const Operand* o : ops) {
    NodePtr n = o->is_tensor() ? trace::cast(o->tensor, dtype, loc).node()
                               : trace::literal_node(*o, dtype, name, bake);
    out[i++] = trace::broadcast_node(std::move(n), *shape, name, loc);
  }
  return out;
}

Tensor binary(Op op, const char* name, const Operand& a, const Operand& b) {
  Loc loc = a.is_tensor() ? a.loc : b.loc;
  for (const Operand* o : {&a, &b})
    if (o->is_tensor()) trace::require(o->tensor, name, loc);
  DType t = trace::result_type({&a, &b});
  if (op == Op::Div && !is_float(t)) t = DType::F32; // true division, like PyTorch
  if (t == DType::Bool) {
    if (op == Op::Sub)
      fail_at(loc, name, "subtraction of bool tensors is not supported; use logical ops");
    if (op == Op::Add) op = Op::LogicalOr; // PyTorch: True + True == True
    if (op == Op::Mul) op = Op::LogicalAnd;
    if (op == Op::Pow || op == Op::Fmod) t = DType::I64;
  }
  bool logical = op == Op::LogicalAnd || op == Op::LogicalOr;
  if (logical) t = DType::Bool;
  // Exact identities fold at trace time: x * 1, 1 * x, x / 1, x - 0.
  auto is = [](const Operand& o, double v) { return !o.is_tensor() && o.number == v; };
  if (b.is_tensor() && b.tensor.defined() && b.tensor.dtype() == t && ((op == Op::Mul && is(a, 1))))
    return b.tensor;
  if (a.is_tensor() && a.tensor.defined() && a.tensor.dtype() == t &&
      ((op == Op::Mul || op == Op::Div) && is(b, 1) || (op == Op::Sub && is(b, 0))))
    return a.tensor;
  // Small integer exponents are compiled in (pow(x, 2) becomes x * x, exact and fast); any other
  // exponent is a kernel parameter like every other number.
  if (op == Op::Pow && !is_float(t) && !b.is_tensor() && b.number < 0)
    fail_at(loc, name, "integers to negative integer powers are not allowed (exponent {}, base {})",
            b.number, a.is_tensor() ? trace::describe(a.tensor) : dtype_name(t));
  bool small_power = op == Op::Pow && !b.is_tensor() && b.number == std::floor(b.number) &&
                     std::fabs(b.number) <= 4;
  auto in = prepare(name, {&a, &b}, t, loc, small_power);
  if (op == Op::Fmod && !is_float(t)) { // PyTorch raises on an integer division by zero
    if (!b.is_tensor() && b.number == 0)
      fail_at(loc, name, "integer division by zero (the divisor is 0)");
    if (b.is_tensor()) trace::check_nonzero_divisor(b.tensor, name, loc);
  }
  DType out = is_comparison(op) || logical ? DType::Bool : t;
  Shape shape = in[0]->shape;
  return Tensor(trace::trace_node(op, out, std::move(shape), {std::move(in[0]), std::move(in[1])},
                                  NoAttr{}, loc));
}

} // namespace

#define KILN_UNARY(method, OP)                                                                     \
  Tensor Tensor::method(Loc loc) const { return unary(Op::OP, *this, loc); }
KILN_UNARY(neg, Neg)
KILN_UNARY(abs, Abs)
KILN_UNARY(exp, Exp)
KILN_UNARY(log, Log)
KILN_UNARY(log1p, Log1p)
KILN_UNARY(expm1, Expm1)
KILN_UNARY(sqrt, Sqrt)
KILN_UNARY(rsqrt, Rsqrt)
KILN_UNARY(sin, Sin)
KILN_UNARY(cos, Cos)
KILN_UNARY(tanh, Tanh)
KILN_UNARY(sigmoid, Sigmoid)
KILN_UNARY(erf, Erf)
KILN_UNARY(floor, Floor)
KILN_UNARY(ceil, Ceil)
KILN_UNARY(round, Round)
KILN_UNARY(sign, Sign)
KILN_UNARY(reciprocal, Reciprocal)
KILN_UNARY(logical_not, LogicalNot)
#undef KILN_UNARY

Tensor Tensor::to(DType dtype, Loc loc) const {
  trace::require(*this, "to", loc);
  return trace::cast(*this, dtype, loc);
}

Tensor operator-(const Operand& a) { return a.tensor.neg(a.loc); }
Tensor operator!(const Operand& a) { return a.tensor.logical_not(a.loc); }

Tensor Tensor::relu(Loc loc) const {
  trace::LabelScope label("relu");
  trace::require(*this, "relu", loc);
  if (dtype() == DType::Bool)
    fail_at(loc, "relu", "not defined for bool tensors (expected a numeric dtype)");
  // where(x <= 0, 0, x), not max(x, 0): NaN passes through, and the gradient at 0 is 0 as in
  // PyTorch (a tie of max would split it).
  return where(le(Operand(*this, loc), Operand(0, loc)), Operand(0, loc), Operand(*this, loc));
}

Tensor Tensor::gelu(std::string_view approximate, Loc loc) const {
  trace::LabelScope label("gelu");
  Operand x(trace::floating(*this, "gelu", loc), loc);
  if (approximate == "tanh") {
    Tensor inner = mul(Operand(std::sqrt(2.0 / M_PI), loc),
                       add(x, mul(Operand(0.044715, loc), pow(x, Operand(3, loc)))));
    return mul(mul(Operand(0.5, loc), x), add(Operand(1, loc), inner.tanh(loc)));
  }
  if (approximate != "none")
    fail_at(loc, "gelu", "approximate must be \"none\" or \"tanh\", got \"{}\"", approximate);
  Tensor e = mul(x, Operand(M_SQRT1_2, loc)).erf(loc);
  return mul(mul(Operand(0.5, loc), x), add(Operand(1, loc), e));
}

Tensor Tensor::silu(Loc loc) const {
  trace::LabelScope label("silu");
  Tensor x = trace::floating(*this, "silu", loc);
  return mul(Operand(x, loc), x.sigmoid(loc));
}

Tensor Tensor::softplus(Loc loc) const {
  trace::LabelScope label("softplus");
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): never overflows.
  Tensor x = trace::floating(*this, "softplus", loc);
  Tensor tail = x.abs(loc).neg(loc).exp(loc).log1p(loc);
  return add(maximum(Operand(x, loc), Operand(0, loc)), tail);
}

Tensor add(const Operand& a, const Operand& b) { return binary(Op::Add, "add", a, b); }
Tensor sub(const Operand& a, const Operand& b) { return binary(Op::Sub, "sub", a, b); }
Tensor mul(const Operand& a, const Operand& b) { return binary(Op::Mul, "mul", a, b); }
Tensor div(const Operand& a, const Operand& b) { return binary(Op::Div, "div", a, b); }
Tensor pow(const Operand& a, const Operand& b) { return binary(Op::Pow, "pow", a, b); }
Tensor maximum(const Operand& a, const Operand& b) { return binary(Op::Maximum, "maximum", a, b); }
Tensor minimum(const Operand& a, const Operand& b) { return binary(Op::Minimum, "minimum", a, b); }
Tensor fmod(const Operand& a, const Operand& b) { return binary(Op::Fmod, "fmod", a, b); }
Tensor eq(const Operand& a, const Operand& b) { return binary(Op::Eq, "eq", a, b); }
Tensor ne(const Operand& a, const Operand& b) { return binary(Op::Ne, "ne", a, b); }
Tensor lt(const Operand& a, const Operand& b) { return binary(Op::Lt, "lt", a, b); }
Tensor le(const Operand& a, const Operand& b) { return binary(Op::Le, "le", a, b); }
Tensor gt(const Operand& a, const Operand& b) { return binary(Op::Gt, "gt", a, b); }
Tensor ge(const Operand& a, const Operand& b) { return binary(Op::Ge, "ge", a, b); }
Tensor logical_and(const Operand& a, const Operand& b) {
  return binary(Op::LogicalAnd, "logical_and", a, b);
}
Tensor logical_or(const Operand& a, const Operand& b) {
  return binary(Op::LogicalOr, "logical_or", a, b);
}

Tensor where(const Operand& cond, const Operand& a, const Operand& b) {
  Loc loc = cond.loc;
  for (const Operand* o : {&cond, &a, &b})
    if (o->is_tensor()) trace::require(o->tensor, "where", loc);
  if (cond.is_tensor() && cond.tensor.defined() && cond.tensor.dtype() != DType::Bool)
    fail_at(loc, "where", "condition must be bool, got {}", trace::describe(cond.tensor));
  DType t = trace::result_type({&a, &b});
  auto in = prepare("where", {&cond, &a, &b}, t, loc);
  Tensor c = trace::cast(Tensor(in[0]), DType::Bool, loc), x(in[1]), y(in[2]);
  return trace::make(Op::Where, t, c.shape(), {c, x, y}, NoAttr{}, loc);
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi, Loc loc) {
  trace::LabelScope label("clamp");
  trace::require(x, "clamp", loc);
  if (!lo && !hi) fail_at(loc, "clamp", "at least one of min and max must be given");
  // Integer tensors clamp with integer bounds, float tensors keep their dtype. A fractional
  // bound makes an integer tensor f32, as PyTorch promotes: clamp(i, 0.5) is 0.5 where i < 0.5,
  // not the truncated bound 0 (below the minimum asked for).
  auto fractional = [](std::optional<double> b) { return b && *b != std::floor(*b); };
  Tensor y = !is_float(x.dtype()) && (fractional(lo) || fractional(hi)) ? x.to(DType::F32, loc) : x;
  // The bounds are the user's numbers: kernel parameters, so new bounds do not recompile.
  DType bound_dtype = y.dtype() == DType::Bool ? DType::I64 : y.dtype();
  for (std::optional<double> b : {lo, hi})
    if (b)
      trace::check_number_fits(Operand(*b, loc), bound_dtype, "clamp"); // u8 clamp(-5): not 251
  auto bound = [&](double v) {
    return Operand(trace::constant(v, bound_dtype, loc, y.dtype() != DType::Bool), loc);
  };
  // Selects rather than max/min: NaN passes through, and the gradient is 1 on the bounds
  // themselves as in PyTorch (a tie of max/min would split it). lo > hi gives hi, like PyTorch.
  if (lo) y = where(lt(Operand(y, loc), bound(*lo)), bound(*lo), Operand(y, loc));
  if (hi) y = where(gt(Operand(y, loc), bound(*hi)), bound(*hi), Operand(y, loc));
  return y;
}

Tensor isnan(const Tensor& x, Loc loc) {
  if (!x.defined()) fail_at(loc, "isnan", "called on an undefined tensor");
  return ne(Operand(x, loc), Operand(x, loc)); // false for every integer
}

Tensor isinf(const Tensor& x, Loc loc) {
  if (!x.defined()) fail_at(loc, "isinf", "called on an undefined tensor");
  if (!is_float(x.dtype())) return ne(Operand(x, loc), Operand(x, loc)); // all false
  return eq(Operand(x.abs(loc), loc), Operand(INFINITY, loc));
}

Tensor isfinite(const Tensor& x, Loc loc) {
  if (!x.defined()) fail_at(loc, "isfinite", "called on an undefined tensor");
  // x - x is 0 for finite x, NaN for NaN and +-inf.
  if (!is_float(x.dtype())) return eq(Operand(x, loc), Operand(x, loc)); // all true
  return eq(Operand(sub(Operand(x, loc), Operand(x, loc)), loc), Operand(0.0, loc));
}

} // namespace kiln
