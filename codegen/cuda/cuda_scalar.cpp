#include "codegen/cuda/cuda_scalar.h"

#include "ir/error.h"

#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace kiln::cuda {
namespace {

std::string fp_literal(DType t, double v) {
  bool f32 = t == DType::F32;
  if (std::isnan(v))
    return f32 ? "__int_as_float(0x7fc00000)" : "__longlong_as_double(0x7ff8000000000000LL)";
  if (std::isinf(v))
    return fmt::format("({}{})", v < 0 ? "-" : "",
                       f32 ? "__int_as_float(0x7f800000)"
                           : "__longlong_as_double(0x7ff0000000000000LL)");
  // Shortest text that reads back as the same value; a '.' or exponent keeps it a float literal.
  std::string s = f32 ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  if (f32) s += "f";
  return s[0] == '-' ? "(" + s + ")" : s;
}

// Calls f32name(x) or f64name(x); no integer version.
std::string math(DType t, Op op, const char* f32name, const char* f64name, const std::string& x) {
  if (!is_float(t)) fail("cuda", "no CUDA lowering for {} on {}", op_name(op), dtype_name(t));
  return fmt::format("{}({})", t == DType::F32 ? f32name : f64name, x);
}

struct LibmPair {
  Op op;
  const char *f32, *f64;
};

// The unary ops that are one CUDA math-library call, float only.
const LibmPair* libm_unary(Op op) {
  static constexpr LibmPair kCalls[] = {
      {Op::Exp, "expf", "exp"},       {Op::Log, "logf", "log"},    {Op::Log1p, "log1pf", "log1p"},
      {Op::Expm1, "expm1f", "expm1"}, {Op::Sqrt, "sqrtf", "sqrt"}, {Op::Sin, "sinf", "sin"},
      {Op::Cos, "cosf", "cos"},       {Op::Tanh, "tanhf", "tanh"}, {Op::Erf, "erff", "erf"}};
  for (const LibmPair& c : kCalls)
    if (c.op == op) return &c;
  return nullptr;
}

// a op b with two's-complement wrapping for i32/i64 (signed overflow is undefined in C++).
std::string wrapping(DType t, char op, const std::string& a, const std::string& b) {
  if (t == DType::I64)
    return fmt::format("(long long)((unsigned long long)({}) {} (unsigned long long)({}))", a, op,
                       b);
  if (t == DType::I32) return fmt::format("(int)((unsigned)({}) {} (unsigned)({}))", a, op, b);
  return fmt::format("({})({} {} {})", c_type(t), a, op, b);
}

std::string cast(DType from, DType to, const std::string& x) {
  if (from == to) return x;
  if (to == DType::Bool) return fmt::format("({} != 0)", x);
  if (is_float(from) && !is_float(to)) return fmt::format("({})kiln_f2i({})", c_type(to), x);
  return fmt::format("({})({})", c_type(to), x);
}

std::string unary(Op op, DType t, DType out, const std::string& x) {
  if (const LibmPair* f = libm_unary(op)) return math(t, op, f->f32, f->f64, x);
  bool fp = is_float(t);
  switch (op) {
  case Op::Neg:
    return fp ? fmt::format("(-{})", x)
              : fmt::format("({})(0ull - (unsigned long long)({}))", c_type(t), x);
  case Op::Abs:
    if (fp) return math(t, op, "fabsf", "fabs", x);
    if (!is_signed(t)) return x;
    return fmt::format("({0} < 0 ? ({1})(0ull - (unsigned long long)({0})) : {0})", x, c_type(t));
  case Op::Rsqrt: // 1 / sqrt, rounded twice like the CPU (not the rsqrt approximation)
    return fmt::format("({} / {})", literal(t, Scalar{1, 1}), math(t, op, "sqrtf", "sqrt", x));
  case Op::Sigmoid:
    math(t, op, "", "", x); // float only
    return fmt::format("kiln_sigmoid({})", x);
  case Op::Floor:
    return fp ? math(t, op, "floorf", "floor", x) : x;
  case Op::Ceil:
    return fp ? math(t, op, "ceilf", "ceil", x) : x;
  case Op::Round: // half to even
    return fp ? math(t, op, "rintf", "rint", x) : x;
  case Op::Sign:
    if (t == DType::Bool) return x;
    if (fp) return fmt::format("kiln_sign({})", x);
    if (!is_signed(t)) return fmt::format("({})({} > 0)", c_type(t), x);
    // Shifts, not (x > 0) - (x < 0): NVRTC 13 folds that into a three-way compare that came out
    // +1 for negative i64 inside larger fused expressions (found on an H200).
    return fmt::format("(({1})(({0}) >> {2}) | ({1})((0ull - (unsigned long long)({0})) >> 63))", x,
                       c_type(t), dtype_size(t) * 8 - 1);
  case Op::Reciprocal:
    math(t, op, "", "", x);
    return fmt::format("({} / {})", literal(t, Scalar{1, 1}), x);
  case Op::LogicalNot:
    return fmt::format("(!({} != 0))", x);
  case Op::Cast:
    return cast(t, out, x);
  case Op::Copy:
    return x;
  default:
    break;
  }
  fail("cuda", "no CUDA lowering for unary {} on {}", op_name(op), dtype_name(t));
}

std::string compare(Op op) {
  switch (op) {
  case Op::Eq:
    return "==";
  case Op::Ne:
    return "!=";
  case Op::Lt:
    return "<";
  case Op::Le:
    return "<=";
  case Op::Gt:
    return ">";
  default:
    return ">=";
  }
}

std::string pow_expr(const Kernel& k, const KInst& in, DType t, const std::string& x,
                     const std::string& y) {
  if (!is_float(t))
    return cast(DType::I64, t, fmt::format("kiln_ipow((long long)({}), (long long)({}))", x, y));
  // Small integer exponents become multiplies, as on the CPU (exact where powf is not).
  const KInst& e = k.insts[in.b];
  if (e.op == Op::Const && e.value.f == std::floor(e.value.f) && std::fabs(e.value.f) <= 4) {
    std::string r = literal(t, Scalar{1, 1});
    for (int i = 0; i < std::fabs(e.value.f); ++i) r = i ? fmt::format("({} * {})", r, x) : x;
    return e.value.f < 0 ? fmt::format("({} / {})", literal(t, Scalar{1, 1}), r) : r;
  }
  return math(t, Op::Pow, "powf", "pow", x + ", " + y);
}

std::string binary(const Kernel& k, const KInst& in, DType t, const std::string& x,
                   const std::string& y) {
  bool fp = is_float(t);
  if (t == DType::Bool) { // as the interpreter: compute on 0/1 integers, then != 0
    switch (in.op) {
    case Op::Add:
    case Op::Maximum:
      return fmt::format("({} || {})", x, y);
    case Op::Mul:
    case Op::Minimum:
      return fmt::format("({} && {})", x, y);
    case Op::Sub:
      return fmt::format("({} != {})", x, y);
    case Op::Fmod:
      return "false";
    case Op::Pow:
      return fmt::format("({} || !{})", x, y);
    default:
      break;
    }
  }
  switch (in.op) {
  case Op::Add:
  case Op::Sub:
  case Op::Mul: {
    char c = in.op == Op::Add ? '+' : in.op == Op::Sub ? '-' : '*';
    return fp ? fmt::format("({} {} {})", x, c, y) : wrapping(t, c, x, y);
  }
  case Op::Div:
    if (fp) return fmt::format("({} / {})", x, y);
    break;
  case Op::FloorDiv:
    return fmt::format("kiln_floordiv({}, {})", x, y);
  case Op::Mod:
    return fmt::format("kiln_mod({}, {})", x, y);
  case Op::Pow:
    return pow_expr(k, in, t, x, y);
  case Op::Maximum:
    return fmt::format("kiln_max({}, {})", x, y);
  case Op::Minimum:
    return fmt::format("kiln_min({}, {})", x, y);
  case Op::Fmod:
    return fp ? math(t, in.op, "fmodf", "fmod", x + ", " + y)
              : fmt::format("kiln_ifmod({}, {})", x, y);
  case Op::Eq:
  case Op::Ne:
  case Op::Lt:
  case Op::Le:
  case Op::Gt:
  case Op::Ge:
    return fmt::format("({} {} {})", x, compare(in.op), y);
  case Op::LogicalAnd:
    return fmt::format("(({} != 0) && ({} != 0))", x, y);
  case Op::LogicalOr:
    return fmt::format("(({} != 0) || ({} != 0))", x, y);
  default:
    break;
  }
  fail("cuda", "no CUDA lowering for binary {} on {}", op_name(in.op), dtype_name(t));
}

} // namespace

std::string c_type(DType t) {
  switch (t) {
  case DType::Bool:
    return "bool";
  case DType::U8:
    return "unsigned char";
  case DType::I32:
    return "int";
  case DType::I64:
    return "long long";
  case DType::F32:
    return "float";
  case DType::F64:
    break;
  }
  return "double";
}

std::string mem_type(DType t) { return t == DType::Bool ? "unsigned char" : c_type(t); }

std::string literal(DType t, Scalar v) {
  switch (t) {
  case DType::Bool:
    return v.i ? "true" : "false";
  case DType::U8:
    return fmt::format("(unsigned char){}", v.i & 255);
  case DType::I32:
    return v.i == std::numeric_limits<int32_t>::min() ? "(-2147483647 - 1)"
                                                      : fmt::format("{}", v.i);
  case DType::I64:
    return v.i == std::numeric_limits<int64_t>::min() ? "(-9223372036854775807LL - 1)"
                                                      : fmt::format("{}LL", v.i);
  default:
    return fp_literal(t, v.f);
  }
}

std::string scalar_expr(const Kernel& k, int i, const std::vector<std::string>& o) {
  const KInst& in = k.insts[i];
  auto src = [&](int s) { return k.insts[s].dtype; };
  if (in.op == Op::Const) return literal(in.dtype, in.value);
  if (in.op == Op::FloorDiv || in.op == Op::Mod) return binary(k, in, DType::I64, o[0], o[1]);
  switch (op_category(in.op)) {
  case OpCategory::Unary:
    return unary(in.op, src(in.a), in.dtype, o[0]);
  case OpCategory::Binary:
    return binary(k, in, src(in.a), o[0], o[1]);
  case OpCategory::Ternary:
    return fmt::format("({} ? {} : {})", o[0], o[1], o[2]);
  default:
    break;
  }
  fail("cuda", "no CUDA lowering for {} in kernel {}", op_name(in.op), k.name);
}

std::string reduce_identity(Op op, DType t) {
  double inf = std::numeric_limits<double>::infinity();
  auto lowest = [&] {
    if (is_float(t)) return literal(t, Scalar{-inf, 0});
    if (!is_signed(t)) return literal(t, Scalar{0, 0});
    return literal(t, Scalar{0, t == DType::I32 ? std::numeric_limits<int32_t>::min()
                                                : std::numeric_limits<int64_t>::min()});
  };
  auto highest = [&] {
    if (is_float(t)) return literal(t, Scalar{inf, 0});
    if (t == DType::Bool) return literal(t, Scalar{1, 1});
    if (t == DType::U8) return literal(t, Scalar{255, 255});
    return literal(t, Scalar{0, t == DType::I32 ? std::numeric_limits<int32_t>::max()
                                                : std::numeric_limits<int64_t>::max()});
  };
  switch (op) {
  case Op::Sum:
    return literal(t, Scalar{0, 0});
  case Op::Prod:
    return literal(t, Scalar{1, 1});
  case Op::Max:
  case Op::ArgMax:
    return lowest();
  case Op::Min:
  case Op::ArgMin:
    return highest();
  default:
    fail("cuda", "no CUDA lowering for reduction {} on {}", op_name(op), dtype_name(t));
  }
}

std::string reduce_step(Op op, DType t, const std::string& acc, const std::string& x) {
  switch (op) {
  case Op::Sum:
    if (t == DType::Bool) return fmt::format("({} || {})", acc, x);
    return is_float(t) ? fmt::format("({} + {})", acc, x) : wrapping(t, '+', acc, x);
  case Op::Prod:
    if (t == DType::Bool) return fmt::format("({} && {})", acc, x);
    return is_float(t) ? fmt::format("({} * {})", acc, x) : wrapping(t, '*', acc, x);
  case Op::Max:
    return t == DType::Bool ? fmt::format("({} || {})", acc, x)
                            : fmt::format("kiln_max({}, {})", acc, x);
  case Op::Min:
    return t == DType::Bool ? fmt::format("({} && {})", acc, x)
                            : fmt::format("kiln_min({}, {})", acc, x);
  default:
    fail("cuda", "no CUDA lowering for reduction {} on {}", op_name(op), dtype_name(t));
  }
}

} // namespace kiln::cuda
