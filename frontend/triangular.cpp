// tril and triu: the lower and upper triangles of the last two axes (a causal mask is
// tril(ones({T, T}, DType::Bool))), selected by comparing row and column indices.
#include "kiln/creation.h"
#include "trace.h"

namespace kiln {
namespace {

Tensor triangle(const Tensor& x, int64_t diagonal, bool lower, const char* op, Loc loc) {
  trace::require(x, op, loc);
  if (x.dim() < 2)
    trace::fail_at(loc, op, "input {} must have at least 2 dimensions", trace::describe(x));
  trace::LabelScope label(op);
  int64_t rows = x.shape()[x.dim() - 2], cols = x.shape().back();
  Tensor i = arange(0, static_cast<double>(rows), 1, DType::I64, loc)
                 .to(x.device(), loc)
                 .reshape({rows, 1}, loc);
  Tensor j = arange(0, static_cast<double>(cols), 1, DType::I64, loc).to(x.device(), loc);
  Tensor offset = sub(Operand(j, loc), Operand(i, loc)); // how far right of the diagonal
  Tensor keep = lower ? le(Operand(offset, loc), Operand(diagonal, loc))
                      : ge(Operand(offset, loc), Operand(diagonal, loc));
  // A 0-d zero of x's own dtype, so a bool x stays bool.
  return where(Operand(keep, loc), Operand(x, loc),
               Operand(trace::constant(0, x.dtype(), loc), loc));
}

} // namespace

Tensor tril(const Tensor& x, int64_t diagonal, Loc loc) {
  return triangle(x, diagonal, true, "tril", loc);
}

Tensor triu(const Tensor& x, int64_t diagonal, Loc loc) {
  return triangle(x, diagonal, false, "triu", loc);
}

} // namespace kiln
