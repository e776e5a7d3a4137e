#include "codegen/cpu/llvm_math.h"

#include <limits>

namespace kiln::cpu {
namespace {

using llvm::Value;

Value* f(llvm::IRBuilder<>& b, double v) { return llvm::ConstantFP::get(b.getFloatTy(), v); }

// Horner evaluation of c[0]*x^n + ... + c[n], as fused multiply-adds (one rounding per step:
// as accurate or more, and half the instructions).
Value* horner(llvm::IRBuilder<>& b, Value* x, std::initializer_list<double> c) {
  Value* acc = nullptr;
  for (double k : c)
    acc = acc ? b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {b.getFloatTy()}, {acc, x, f(b, k)})
              : f(b, k);
  return acc;
}

} // namespace

Value* emit_exp_f32(llvm::IRBuilder<>& b, Value* x) {
  auto fma = [&](Value* a, Value* m, Value* c) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {b.getFloatTy()}, {a, m, c});
  };
  // Below lo the result rounds to 0 (it is under half the smallest denormal, 2^-150), and x = lo
  // gives that 0. Above 88.72 it overflows: clamped to 89, the arithmetic below still reaches
  // infinity. Ordered compares let NaN through unchanged.
  const double lo = -104.0, hi = 89.0;
  Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, f(b, hi)), f(b, hi), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, f(b, lo)), f(b, lo), xc);
  // n = round(x / ln2), in [-150, 128]: adding 1.5 * 2^23 rounds to an integer, which the low
  // mantissa bits of the sum then hold.
  const double magic = 12582912.0;
  Value* t = fma(xc, f(b, 1.44269504088896341), f(b, magic));
  Value* n = b.CreateFSub(t, f(b, magic));
  // x = n*ln2 + r, |r| <= ln2/2, ln2 split in two for an exact product n*C1.
  Value* r = fma(n, f(b, -0.693359375), xc);
  r = fma(n, f(b, 2.12194440e-4), r);
  Value* y = horner(b, r,
                    {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                     1.6666665459E-1, 5.0000001201E-1, 1.0, 1.0});
  // 2^n as 2^h * 2^(n-h), h = floor(n/2): both factors are normal floats for every n, y * 2^h
  // is exact, and the second product rounds once, also to a denormal (exp(-100) = 3.7e-44).
  Value* ni = b.CreateSub(b.CreateBitCast(t, b.getInt32Ty()), b.getInt32(0x4b400000));
  Value* h = b.CreateAShr(ni, 1);
  auto pow2 = [&](Value* e) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(e, b.getInt32(127)), 23), b.getFloatTy());
  };
  return b.CreateFMul(b.CreateFMul(y, pow2(h)), pow2(b.CreateSub(ni, h)));
}

Value* emit_log_f32(llvm::IRBuilder<>& b, Value* x) {
  // Denormals: scale into the normal range first.
  Value* tiny = b.CreateFCmpOLT(x, f(b, 1.17549435e-38));
  Value* xs = b.CreateSelect(tiny, b.CreateFMul(x, f(b, 8388608.0)), x);
  Value* bits = b.CreateBitCast(xs, b.getInt32Ty());
  Value* e = b.CreateSub(b.CreateLShr(bits, 23), b.getInt32(126));
  e = b.CreateSub(e, b.CreateSelect(tiny, b.getInt32(23), b.getInt32(0)));
  // Mantissa m in [0.5, 1).
  Value* m =
      b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, b.getInt32(0x007fffff)), b.getInt32(0x3f000000)),
                      b.getFloatTy());
  Value* small = b.CreateFCmpOLT(m, f(b, 0.707106781186547524));
  e = b.CreateSub(e, b.CreateZExt(small, b.getInt32Ty()));
  Value* t = b.CreateSelect(small, b.CreateFSub(b.CreateFAdd(m, m), f(b, 1.0)),
                            b.CreateFSub(m, f(b, 1.0)));
  Value* z = b.CreateFMul(t, t);
  Value* y =
      horner(b, t,
             {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
              -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  y = b.CreateFMul(y, b.CreateFMul(t, z));
  Value* fe = b.CreateSIToFP(e, b.getFloatTy());
  y = b.CreateFAdd(y, b.CreateFMul(fe, f(b, -2.12194440e-4)));
  y = b.CreateFSub(y, b.CreateFMul(z, f(b, 0.5)));
  Value* res = b.CreateFAdd(b.CreateFAdd(t, y), b.CreateFMul(fe, f(b, 0.693359375)));
  // Special values: log(0) = -inf, log(<0) = NaN, log(inf) = inf, log(NaN) = NaN.
  double inf = std::numeric_limits<double>::infinity();
  res = b.CreateSelect(b.CreateFCmpOEQ(x, f(b, inf)), f(b, inf), res);
  res = b.CreateSelect(b.CreateFCmpOEQ(x, f(b, 0.0)), f(b, -inf), res);
  return b.CreateSelect(b.CreateFCmpULT(x, f(b, 0.0)),
                        f(b, std::numeric_limits<double>::quiet_NaN()), res);
}

Value* emit_tanh_f32(llvm::IRBuilder<>& b, Value* x) {
  // tanh(x) = x * P(x^2) / Q(x^2), the 13/6-degree rational interpolant Eigen uses: within a few
  // ulp up to the clamp 7.9053, where it is 1 - 2.4e-7. Ten multiply-adds and one division, a
  // third of the instructions of 1 - 2 / (e^(2|x|) + 1) with its exp, which bounded gelu_tanh
  // (W1) on 8-lane hosts. Below 0.0004, tanh(x) rounds to x; from 9.0109 (13 ln 2) on, to +-1
  // exactly, so that 1 + tanh(x) is 0 there (gelu_tanh(-1e6) is -0, not -0.12). Ordered
  // compares let NaN through; x's sign survives the products, so tanh(-0) = -0.
  const double clamp = 7.90531110763549805;
  Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, f(b, clamp)), f(b, clamp), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, f(b, -clamp)), f(b, -clamp), xc);
  Value* z = b.CreateFMul(xc, xc);
  Value* p = horner(b, z,
                    {-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                     5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
                     4.89352455891786e-03});
  Value* q = horner(
      b, z,
      {1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03});
  Value* res = b.CreateFDiv(b.CreateFMul(xc, p), q);
  Value* ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value* one = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, f(b, 1.0), x);
  res = b.CreateSelect(b.CreateFCmpOGE(ax, f(b, 9.0109133472979432)), one, res);
  return b.CreateSelect(b.CreateFCmpOLT(ax, f(b, 0.0004)), x, res);
}

} // namespace kiln::cpu
