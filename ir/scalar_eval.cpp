#include "ir/scalar_eval.h"

#include "ir/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace kiln {
namespace {

int64_t float_to_int(double x) {
  // x86 gives the "integer indefinite" value for NaN and out-of-range; do the same.
  if (!(x >= -9.2233720368547758e18 && x < 9.2233720368547758e18))
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

double sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : x; }

// -v wrapping around like the compiled code: -INT64_MIN is INT64_MIN (in C++, undefined).
int64_t wrapping_neg(int64_t v) { return static_cast<int64_t>(0 - static_cast<uint64_t>(v)); }

} // namespace

Scalar load_scalar(const void* base, DType t, int64_t k) {
  Scalar v;
  dispatch_dtype(t, [&](auto x) {
    using T = decltype(x);
    T e;
    std::memcpy(&e, static_cast<const char*>(base) + k * sizeof(T), sizeof(T));
    if constexpr (std::is_floating_point_v<T>)
      v.f = e;
    else
      v.i = static_cast<int64_t>(e);
  });
  return v;
}

void store_scalar(void* base, DType t, int64_t k, Scalar v) {
  dispatch_dtype(t, [&](auto x) {
    using T = decltype(x);
    T e;
    if constexpr (std::is_same_v<T, bool>)
      e = v.i != 0;
    else if constexpr (std::is_floating_point_v<T>)
      e = static_cast<T>(v.f);
    else
      e = static_cast<T>(static_cast<uint64_t>(v.i)); // wraps like the compiled code
    std::memcpy(static_cast<char*>(base) + k * sizeof(T), &e, sizeof(T));
  });
}

int64_t int_pow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : b == -1 ? (e % 2 ? -1 : 1) : 0;
  uint64_t r = 1, ub = static_cast<uint64_t>(b);
  for (; e; e >>= 1, ub *= ub)
    if (e & 1) r *= ub;
  return static_cast<int64_t>(r);
}

Scalar eval_cast(Scalar v, DType from, DType to) {
  Scalar r;
  if (to == DType::Bool)
    r.i = is_float(from) ? (v.f != 0 || std::isnan(v.f)) : v.i != 0;
  else if (is_float(to))
    r.f = is_float(from) ? v.f : static_cast<double>(v.i);
  else
    r.i = is_float(from) ? float_to_int(v.f) : v.i;
  if (!is_float(to)) {
    if (to == DType::U8) r.i = static_cast<uint8_t>(r.i);
    if (to == DType::I32) r.i = static_cast<int32_t>(static_cast<uint32_t>(r.i));
  }
  return r;
}

Scalar eval_unary(Op op, DType t, DType out, Scalar x) {
  Scalar r;
  if (op == Op::Cast) return eval_cast(x, t, out);
  if (op == Op::Copy) return x;
  if (op == Op::LogicalNot) return r.i = is_float(t) ? x.f == 0 : x.i == 0, r;
  if (!is_float(t)) {
    switch (op) {
    case Op::Neg:
      r.i = wrapping_neg(x.i);
      break;
    case Op::Abs:
      r.i = x.i < 0 ? wrapping_neg(x.i) : x.i;
      break;
    case Op::Sign:
      r.i = (x.i > 0) - (x.i < 0);
      break;
    default:
      r.i = x.i;
      break; // floor/ceil/round of an integer
    }
    return eval_cast(r, DType::I64, t);
  }
  double a = x.f;
  switch (op) {
  case Op::Neg:
    r.f = -a;
    break;
  case Op::Abs:
    r.f = std::fabs(a);
    break;
  case Op::Exp:
    r.f = std::exp(a);
    break;
  case Op::Log:
    r.f = std::log(a);
    break;
  case Op::Log1p:
    r.f = std::log1p(a);
    break;
  case Op::Expm1:
    r.f = std::expm1(a);
    break;
  case Op::Sqrt:
    r.f = std::sqrt(a);
    break;
  case Op::Rsqrt:
    r.f = 1 / std::sqrt(a);
    break;
  case Op::Sin:
    r.f = std::sin(a);
    break;
  case Op::Cos:
    r.f = std::cos(a);
    break;
  case Op::Tanh:
    r.f = std::tanh(a);
    break;
  case Op::Sigmoid: { // as compiled: e^-x would overflow while the result is still a denormal
    double e = std::exp(-std::fabs(a));
    r.f = (a < 0 ? e : 1) / (1 + e);
    break;
  }
  case Op::Erf:
    r.f = std::erf(a);
    break;
  case Op::Floor:
    r.f = std::floor(a);
    break;
  case Op::Ceil:
    r.f = std::ceil(a);
    break;
  case Op::Round:
    r.f = std::nearbyint(a);
    break;
  case Op::Sign:
    r.f = sign(a);
    break;
  case Op::Reciprocal:
    r.f = 1 / a;
    break;
  default:
    fail("interpret", "no rule for {}", op_name(op));
  }
  return r;
}

Scalar eval_binary(Op op, DType t, Scalar x, Scalar y) {
  Scalar r;
  bool fp = is_float(t);
  double a = x.f, b = y.f;
  int64_t p = x.i, q = y.i;
  auto cmp = [&](bool v) { return r.i = v, r; };
  switch (op) {
  case Op::Eq:
    return cmp(fp ? a == b : p == q);
  case Op::Ne:
    return cmp(fp ? a != b : p != q);
  case Op::Lt:
    return cmp(fp ? a < b : p < q);
  case Op::Le:
    return cmp(fp ? a <= b : p <= q);
  case Op::Gt:
    return cmp(fp ? a > b : p > q);
  case Op::Ge:
    return cmp(fp ? a >= b : p >= q);
  case Op::LogicalAnd:
    return cmp((fp ? a != 0 : p != 0) && (fp ? b != 0 : q != 0));
  case Op::LogicalOr:
    return cmp((fp ? a != 0 : p != 0) || (fp ? b != 0 : q != 0));
  default:
    break;
  }
  if (fp) {
    switch (op) {
    case Op::Add:
      r.f = a + b;
      break;
    case Op::Sub:
      r.f = a - b;
      break;
    case Op::Mul:
      r.f = a * b;
      break;
    case Op::Div:
      r.f = a / b;
      break;
    case Op::Pow:
      r.f = std::pow(a, b);
      break;
    case Op::Maximum:
      r.f = std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
      break;
    case Op::Minimum:
      r.f = std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
      break;
    case Op::Fmod:
      r.f = std::fmod(a, b);
      break;
    default:
      fail("interpret", "no rule for {}", op_name(op));
    }
    return r;
  }
  auto wrap = [](auto f) { return static_cast<int64_t>(f); };
  switch (op) {
  case Op::Add:
    r.i = wrap(static_cast<uint64_t>(p) + static_cast<uint64_t>(q));
    break;
  case Op::Sub:
    r.i = wrap(static_cast<uint64_t>(p) - static_cast<uint64_t>(q));
    break;
  case Op::Mul:
    r.i = wrap(static_cast<uint64_t>(p) * static_cast<uint64_t>(q));
    break;
  case Op::Pow:
    r.i = int_pow(p, q);
    break;
  case Op::Maximum:
    r.i = std::max(p, q);
    break;
  case Op::Minimum:
    r.i = std::min(p, q);
    break;
  case Op::Fmod:
    r.i = (q == 0 || q == -1) ? 0 : p % q;
    break;
  default:
    fail("interpret", "no rule for {} on {}", op_name(op), dtype_name(t));
  }
  if (t == DType::Bool) r.i = r.i != 0;
  return eval_cast(r, DType::I64, t);
}

} // namespace kiln
