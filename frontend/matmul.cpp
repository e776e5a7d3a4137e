// matmul: 1-D, 2-D and batched with broadcast batch dims, like torch.matmul.
#include "trace.h"

namespace kiln {
using trace::describe;
using trace::fail_at;

namespace {
bool batch_compatible(const Shape& a, const Shape& b) {
  for (size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    int64_t x = a[a.size() - i], y = b[b.size() - i];
    if (x != y && x != 1 && y != 1) return false;
  }
  return true;
}
} // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in, Loc loc) {
  if (!a_in.defined() || !b_in.defined()) fail_at(loc, "matmul", "called on an undefined tensor");
  if (a_in.dim() == 0 || b_in.dim() == 0)
    fail_at(loc, "matmul", "both arguments need at least 1 dim, got {} and {}", describe(a_in),
            describe(b_in));
  if (a_in.dtype() == DType::Bool || b_in.dtype() == DType::Bool)
    fail_at(loc, "matmul", "bool operands {} and {} are not supported (expected numeric dtypes)",
            describe(a_in), describe(b_in));
  DType t = promote(a_in.dtype(), b_in.dtype());
  // 1-D operands become a row (left) or column (right) matrix, squeezed again at the end.
  Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0, loc) : a_in;
  Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(1, loc) : b_in;
  int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  if (K != K2)
    fail_at(loc, "matmul", "shapes {} and {} cannot be multiplied: {} != {}",
            shape_str(a_in.shape()), shape_str(b_in.shape()), K, K2);
  Shape abatch(a.shape().begin(), a.shape().end() - 2),
      bbatch(b.shape().begin(), b.shape().end() - 2);
  if (!batch_compatible(abatch, bbatch))
    fail_at(loc, "matmul", "batch dims of {} and {} cannot be broadcast (expected equal or 1)",
            describe(a_in), describe(b_in));
  Shape batch = trace::broadcast_shapes(abatch, bbatch, "matmul", loc);
  Shape ashape = batch, bshape = batch, oshape = batch;
  ashape.insert(ashape.end(), {M, K});
  bshape.insert(bshape.end(), {K, N});
  oshape.insert(oshape.end(), {M, N});
  Tensor ae = trace::broadcast_to(trace::cast(a, t, loc), ashape, "matmul", loc);
  Tensor be = trace::broadcast_to(trace::cast(b, t, loc), bshape, "matmul", loc);
  Tensor out = trace::make(Op::Matmul, t, oshape, {ae, be}, NoAttr{}, loc);
  if (a_in.dim() == 1) out = out.squeeze(-2, loc);
  if (b_in.dim() == 1) out = out.squeeze(-1, loc);
  return out;
}

Tensor Tensor::matmul(const Tensor& other, Loc loc) const {
  return kiln::matmul(*this, other, loc);
}

} // namespace kiln
