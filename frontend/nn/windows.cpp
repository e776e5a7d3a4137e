// Sliding windows as views: reshape/slice for non-overlapping windows, else an expand + pad +
// reshape + strided slice (index arithmetic only, never a copy).
#include "windows.h"

#include "../trace.h"

namespace kiln::nn::detail {
namespace {

Shape with_last(const Tensor& t, std::initializer_list<int64_t> last) {
  Shape s(t.shape().begin(), t.shape().end() - 1);
  s.insert(s.end(), last);
  return s;
}

// [..., L] -> [..., K, O] with out[..., k, o] = t[..., o * s + k * d].
Tensor window_last(const Tensor& t, int64_t k, int64_t s, int64_t d, Loc loc) {
  int64_t L = t.shape().back(), o = window_count(L, k, s, d);
  if (d == 1 && s == k) { // non-overlapping: a plain reshape of the first o * k elements
    Tensor r = t.slice(-1, 0, o * k, 1, loc).reshape(with_last(t, {o, k}), loc);
    return r.transpose(-1, -2, loc);
  }
  // Row k of [K, L + d] read from K copies of the row laid end to end starts k * d further
  // along its copy: flat index k * (L + d) + o * s lands on t[o * s + k * d], and that stays
  // inside the copy (o * s + k * d < L), so the padding is never read. Lowered, the index is
  // (k * (L + d) + o * s) mod L, which the index simplifier reduces to k * d + o * s (its
  // coefficients modulo L, then the range): a convolution's windows lower to affine indices.
  Tensor rep = t.unsqueeze(-2, loc).expand(with_last(t, {k, L}), loc);
  Tensor flat = pad(rep.reshape(with_last(t, {k * L}), loc), {0, k * d}, 0, loc);
  Tensor rows = flat.reshape(with_last(t, {k, L + d}), loc);
  return rows.slice(-1, 0, (o - 1) * s + 1, s, loc);
}

} // namespace

int64_t window_count(int64_t extent, int64_t kernel, int64_t stride, int64_t dilation) {
  int64_t span = dilation * (kernel - 1) + 1;
  return extent < span ? 0 : (extent - span) / stride + 1;
}

Tensor windows2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 dilation, Loc loc) {
  Tensor a = window_last(x, kernel.w, stride.w, dilation.w, loc); // [N, C, H, KW, OW]
  a = a.permute({0, 1, 3, 4, 2}, loc);                            // [N, C, KW, OW, H]
  a = window_last(a, kernel.h, stride.h, dilation.h, loc);        // [N, C, KW, OW, KH, OH]
  return a.permute({0, 1, 4, 5, 2, 3}, loc);                      // [N, C, KH, OH, KW, OW]
}

Tensor materialize(const Tensor& t, bool gradient, Loc loc) {
  // Views are index arithmetic and cheap elementwise ops are inlined into every consumer, a
  // matmul operand included, where they are re-evaluated once per reduction step: a copy is
  // written once instead.
  Tensor y = trace::make(Op::Copy, t.dtype(), t.shape(), {t}, NoAttr{}, loc);
  // A copy's own gradient is the incoming gradient itself, inlined into its consumers like any
  // other elementwise chain; here it is a copy too.
  if (gradient && y.requires_grad())
    trace::set_custom_grad(y, [loc](const NodePtr& n, const NodePtr& g) {
      Tensor gt(g);
      return CustomGrads{
          {trace::make(Op::Copy, gt.dtype(), gt.shape(), {gt}, NoAttr{}, loc).node()}, {}};
    });
  return y;
}

} // namespace kiln::nn::detail
