// Python's % and //: remainder and floor_divide, composed from fmod like PyTorch computes them.
#include "trace.h"

namespace kiln {

namespace {

// a and b as tensors of their promoted dtype (bools as i64, like fmod); numbers become constants
// before any label scope, so a float divisor is a kernel parameter.
std::pair<Tensor, Tensor> division_operands(const char* name, const Operand& a, const Operand& b,
                                            Loc loc) {
  for (const Operand* o : {&a, &b})
    if (o->is_tensor()) trace::require(o->tensor, name, loc);
  DType t = trace::result_type({&a, &b});
  if (t == DType::Bool) t = DType::I64;
  Tensor x = trace::as_tensor(a, t, name), y = trace::as_tensor(b, t, name);
  trace::broadcast_shapes(x.shape(), y.shape(), name, loc); // fails here, naming this op
  if (!is_float(t)) { // PyTorch raises on an integer division by zero
    if (!b.is_tensor() && b.number == 0)
      trace::fail_at(loc, name, "integer division by zero (the divisor is 0)");
    if (b.is_tensor()) trace::check_nonzero_divisor(y, name, loc);
  }
  return {x, y};
}

// fmod(a, b), which has the sign of a, and whether it is nonzero with the other sign than b
// (then the remainder is fmod + b and the quotient one less).
std::pair<Tensor, Tensor> fmod_and_sign_fix(const Tensor& a, const Tensor& b, Loc loc) {
  Tensor mod = fmod(Operand(a, loc), Operand(b, loc));
  Tensor signs_differ = ne(Operand(lt(Operand(mod, loc), Operand(0, loc)), loc),
                           Operand(lt(Operand(b, loc), Operand(0, loc)), loc));
  Tensor fix =
      logical_and(Operand(ne(Operand(mod, loc), Operand(0, loc)), loc), Operand(signs_differ, loc));
  return {mod, fix};
}

Tensor python_remainder(const Tensor& a, const Tensor& b, Loc loc) {
  auto [mod, fix] = fmod_and_sign_fix(a, b, loc);
  return where(Operand(fix, loc), Operand(add(Operand(mod, loc), Operand(b, loc)), loc),
               Operand(mod, loc));
}

// a - remainder(a, b) is a multiple of b: its quotient estimated in f64 is exact after one
// correction in integer arithmetic (i64 beyond 2^53, where f64 alone would round).
// (b has no zeros: division_operands checked.)
Tensor integer_floor_divide(const Tensor& a, const Tensor& b, Loc loc) {
  auto quotient = [&](const Tensor& n) {
    Tensor f = div(Operand(n.to(DType::F64, loc), loc), Operand(b.to(DType::F64, loc), loc));
    return f.round(loc).to(a.dtype(), loc);
  };
  Tensor num = sub(Operand(a, loc), Operand(python_remainder(a, b, loc), loc));
  Tensor q = quotient(num);
  Tensor left = sub(Operand(num, loc), Operand(mul(Operand(q, loc), Operand(b, loc)), loc));
  return add(Operand(q, loc), Operand(quotient(left), loc));
}

// PyTorch's div_floor for floats: (a - fmod(a, b)) / b is whole up to rounding; x / 0 stays
// +-inf or NaN.
Tensor float_floor_divide(const Tensor& a, const Tensor& b, Loc loc) {
  auto [mod, fix] = fmod_and_sign_fix(a, b, loc);
  Tensor q = div(Operand(sub(Operand(a, loc), Operand(mod, loc)), loc), Operand(b, loc));
  q = where(Operand(fix, loc), Operand(sub(Operand(q, loc), Operand(1, loc)), loc),
            Operand(q, loc));
  return where(Operand(eq(Operand(b, loc), Operand(0, loc)), loc),
               Operand(div(Operand(a, loc), Operand(b, loc)), loc), Operand(q.round(loc), loc));
}

} // namespace

Tensor remainder(const Operand& a, const Operand& b) {
  Loc loc = a.is_tensor() ? a.loc : b.loc;
  auto [x, y] = division_operands("remainder", a, b, loc);
  trace::LabelScope label("remainder");
  return python_remainder(x, y, loc);
}

Tensor floor_divide(const Operand& a, const Operand& b) {
  Loc loc = a.is_tensor() ? a.loc : b.loc;
  auto [x, y] = division_operands("floor_divide", a, b, loc);
  trace::LabelScope label("floor_divide");
  return is_float(x.dtype()) ? float_floor_divide(x, y, loc) : integer_floor_divide(x, y, loc);
}

} // namespace kiln
