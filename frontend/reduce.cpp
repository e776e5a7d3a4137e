// Reductions over one, several or all axes, with keepdim.
#include "trace.h"

#include <algorithm>
#include <cmath>

namespace kiln {
using trace::fail_at;

namespace {

std::vector<int> normalize_axes(const Tensor& x, const std::vector<int64_t>& axes, const char* op,
                                Loc loc) {
  std::vector<int> out;
  if (axes.empty())
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(static_cast<int>(d));
  for (int64_t a : axes) {
    int n = static_cast<int>(trace::normalize_axis(a, x.dim(), op, loc));
    if (std::find(out.begin(), out.end(), n) != out.end())
      fail_at(loc, op, "axis {} appears twice in the axes of a reduction over {}", a,
              trace::describe(x));
    out.push_back(n);
  }
  if (x.dim() == 0) out.clear(); // axis 0 / -1 of a 0-d tensor reduces nothing
  std::sort(out.begin(), out.end());
  return out;
}

Shape reduced_shape(const Shape& s, const std::vector<int>& axes, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<int>(d)) != axes.end();
    if (!r)
      out.push_back(s[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

Tensor reduce(Op op, const char* name, const Tensor& x, const std::vector<int64_t>& axes_in,
              bool keepdim, Loc loc) {
  if (!x.defined()) fail_at(loc, name, "called on an undefined tensor");
  auto axes = normalize_axes(x, axes_in, name, loc);
  bool extremum = op == Op::Max || op == Op::Min;
  for (int a : axes)
    if (extremum && x.shape()[a] == 0)
      fail_at(loc, name, "cannot reduce an empty axis {} of {} (no identity for {})", a,
              trace::describe(x), name);
  // Sums and products of integers and bools accumulate in i64, like PyTorch.
  DType t = (op == Op::Sum || op == Op::Prod) && !is_float(x.dtype()) ? DType::I64 : x.dtype();
  Tensor in = trace::cast(x, t, loc);
  if (axes.empty()) return in;
  Tensor r = trace::make(op, t, reduced_shape(x.shape(), axes, true), {in}, AxesAttr{axes}, loc);
  if (keepdim) return r;
  return trace::make(Op::Reshape, t, reduced_shape(x.shape(), axes, false), {r}, NoAttr{}, loc);
}

Tensor arg_reduce(Op op, const char* name, const Tensor& x, std::optional<int64_t> axis,
                  bool keepdim, Loc loc) {
  if (!x.defined()) fail_at(loc, name, "called on an undefined tensor");
  if (x.numel() == 0)
    fail_at(loc, name, "cannot take {} of an empty tensor {}", name, trace::describe(x));
  if (!axis) {
    Tensor flat = trace::make(Op::Reshape, x.dtype(), {x.numel()}, {x}, NoAttr{}, loc);
    Tensor r = arg_reduce(op, name, flat, 0, false, loc);
    if (!keepdim) return r;
    return trace::make(Op::Reshape, DType::I64, Shape(x.dim(), 1), {r}, NoAttr{}, loc);
  }
  int a = static_cast<int>(trace::normalize_axis(*axis, x.dim(), name, loc));
  if (x.dim() == 0) return trace::constant(0, DType::I64, loc);
  Tensor r =
      trace::make(op, DType::I64, reduced_shape(x.shape(), {a}, true), {x}, AxesAttr{{a}}, loc);
  if (keepdim) return r;
  return trace::make(Op::Reshape, DType::I64, reduced_shape(x.shape(), {a}, false), {r}, NoAttr{},
                     loc);
}

} // namespace

Tensor Tensor::sum(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  return reduce(Op::Sum, "sum", *this, axes, keepdim, loc);
}
Tensor Tensor::prod(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  return reduce(Op::Prod, "prod", *this, axes, keepdim, loc);
}
Tensor Tensor::max(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  return reduce(Op::Max, "max", *this, axes, keepdim, loc);
}
Tensor Tensor::min(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  return reduce(Op::Min, "min", *this, axes, keepdim, loc);
}
Tensor Tensor::argmax(std::optional<int64_t> axis, bool keepdim, Loc loc) const {
  return arg_reduce(Op::ArgMax, "argmax", *this, axis, keepdim, loc);
}
Tensor Tensor::argmin(std::optional<int64_t> axis, bool keepdim, Loc loc) const {
  return arg_reduce(Op::ArgMin, "argmin", *this, axis, keepdim, loc);
}

std::tuple<Tensor, Tensor> Tensor::extremum_with_index(bool max, int64_t dim, bool keepdim,
                                                       Loc loc) const {
  const char* name = max ? "max" : "min";
  trace::LabelScope label(name);
  Tensor index = arg_reduce(max ? Op::ArgMax : Op::ArgMin, name, *this, dim, true, loc);
  if (this->dim() == 0) return {*this, index};
  // The value read at the index, not a max reduction: its gradient goes to that one element
  // (a reduction's would be shared by ties), as in PyTorch.
  Tensor values = gather(*this, dim, index, loc);
  if (keepdim) return {values, index};
  return {values.squeeze(dim, loc), index.squeeze(dim, loc)};
}

Tensor Tensor::mean(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  trace::LabelScope label("mean");
  if (!defined()) fail_at(loc, "mean", "called on an undefined tensor");
  if (!is_float(dtype()))
    fail_at(loc, "mean", "input must be floating point, got {} (cast with .to(kiln::DType::F32))",
            trace::describe(*this));
  auto ax = normalize_axes(*this, axes, "mean", loc);
  int64_t count = 1;
  for (int a : ax) count *= shape()[a];
  Tensor s = sum(axes, keepdim, loc);
  // 0/0 gives NaN for an empty reduction, as in PyTorch.
  return div(Operand(s, loc), Operand(static_cast<double>(count), loc));
}

Tensor Tensor::var(std::vector<int64_t> axes, int64_t correction, bool keepdim, Loc loc) const {
  trace::LabelScope label("var");
  if (!defined()) fail_at(loc, "var", "called on an undefined tensor");
  if (!is_float(dtype()))
    fail_at(loc, "var", "input must be floating point, got {} (cast with .to(kiln::DType::F32))",
            trace::describe(*this));
  if (correction < 0)
    fail_at(loc, "var",
            "correction must be 0 or more, got {} (1: Bessel's, 0: the population "
            "variance)",
            correction);
  auto ax = normalize_axes(*this, axes, "var", loc);
  int64_t count = 1;
  for (int a : ax) count *= shape()[a];
  // Deviations from the mean, then their squares (two passes, like PyTorch): a large mean
  // cancels before squaring, where E[x^2] - E[x]^2 would lose the variance to rounding.
  Tensor d = sub(Operand(*this, loc), Operand(mean(axes, true, loc), loc));
  Tensor squares = mul(Operand(d, loc), Operand(d, loc)).sum(axes, keepdim, loc);
  double divisor = static_cast<double>(std::max<int64_t>(count - correction, 0));
  return div(Operand(squares, loc), Operand(divisor, loc));
}

Tensor Tensor::std(std::vector<int64_t> axes, int64_t correction, bool keepdim, Loc loc) const {
  trace::LabelScope label("std");
  return var(std::move(axes), correction, keepdim, loc).sqrt(loc);
}

Tensor Tensor::logsumexp(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  trace::LabelScope label("logsumexp");
  if (!defined()) fail_at(loc, "logsumexp", "called on an undefined tensor");
  if (!is_float(dtype()))
    fail_at(loc, "logsumexp",
            "input must be floating point, got {} (cast with .to(kiln::DType::F32))",
            trace::describe(*this));
  auto ax = normalize_axes(*this, axes, "logsumexp", loc);
  // The shift is a constant of the result (its gradient cancels), so it is detached; an infinite
  // max (all -inf, or a +inf) shifts by 0 so that inf - inf makes no NaN.
  Tensor m = max(axes, true, loc).detach(loc);
  m = where(Operand(eq(Operand(m.abs(loc), loc), Operand(INFINITY, loc)), loc), Operand(0.0, loc),
            Operand(m, loc));
  Tensor r = sub(Operand(*this, loc), Operand(m, loc)).exp(loc).sum(axes, true, loc).log(loc);
  r = add(Operand(r, loc), Operand(m, loc));
  return keepdim ? r : r.reshape(reduced_shape(shape(), ax, false), loc);
}

Tensor Tensor::all(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  trace::LabelScope label("all");
  if (!defined()) fail_at(loc, "all", "called on an undefined tensor");
  normalize_axes(*this, axes, "all", loc);
  // A count of zeros, so that no elements give true.
  Tensor zeros = eq(Operand(*this, loc), Operand(0, loc)).sum(axes, keepdim, loc);
  return eq(Operand(zeros, loc), Operand(0, loc));
}

Tensor Tensor::any(std::vector<int64_t> axes, bool keepdim, Loc loc) const {
  trace::LabelScope label("any");
  if (!defined()) fail_at(loc, "any", "called on an undefined tensor");
  normalize_axes(*this, axes, "any", loc); // errors name any, not all
  // Not all elements zero: false over no elements, as all() is true there.
  return eq(Operand(*this, loc), Operand(0, loc))
      .all(std::move(axes), keepdim, loc)
      .logical_not(loc);
}

} // namespace kiln
