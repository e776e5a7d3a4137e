// Views and movement: reshape, permute, expand, squeeze, slice, pad, cat, stack.
#include "trace.h"

#include <algorithm>
#include <numeric>

namespace kiln {
using trace::describe;
using trace::fail_at;

using trace::require;

int64_t Tensor::size(int64_t axis, Loc loc) const {
  require(*this, "size", loc);
  // normalize_axis takes axis 0 of a 0-d tensor (a reduction's), which has no size to read.
  if (dim() == 0)
    fail_at(loc, "size", "{} has no axes (asked for axis {}; expected a tensor of rank >= 1)",
            describe(*this), axis);
  return shape()[trace::normalize_axis(axis, dim(), "size", loc)];
}

Tensor Tensor::reshape(Shape shape, Loc loc) const {
  require(*this, "reshape", loc);
  int64_t known = 1, infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (infer >= 0) fail_at(loc, "reshape", "only one -1 allowed in shape {}", shape_str(shape));
      infer = static_cast<int64_t>(d);
    } else if (shape[d] < 0)
      fail_at(loc, "reshape", "negative extent in shape {}", shape_str(shape));
    else if (__builtin_mul_overflow(known, shape[d], &known))
      fail_at(loc, "reshape", "shape {} has more elements than int64 can count (expected {})",
              shape_str(shape), numel());
  }
  if (infer >= 0) {
    if (known == 0 || numel() % known != 0)
      fail_at(loc, "reshape", "cannot infer -1 in {} for {} ({} elements)", shape_str(shape),
              describe(*this), numel());
    shape[infer] = numel() / known;
  }
  if (kiln::numel(shape) != numel())
    fail_at(loc, "reshape", "shape {} has {} elements but {} has {} (expected equal counts)",
            shape_str(shape), kiln::numel(shape), describe(*this), numel());
  if (shape == this->shape()) return *this;
  return trace::make(Op::Reshape, dtype(), shape, {*this}, NoAttr{}, loc);
}

Tensor Tensor::permute(std::vector<int64_t> dims, Loc loc) const {
  require(*this, "permute", loc);
  if (static_cast<int64_t>(dims.size()) != dim())
    fail_at(loc, "permute", "got {} dims for {} (expected a permutation of all {} axes)",
            dims.size(), describe(*this), dim());
  std::vector<int> perm;
  std::vector<bool> seen(dim(), false);
  Shape out;
  for (int64_t d : dims) {
    int64_t a = trace::normalize_axis(d, dim(), "permute", loc);
    if (seen[a])
      fail_at(loc, "permute", "axis {} repeated in the permutation of {}", d, describe(*this));
    seen[a] = true;
    perm.push_back(static_cast<int>(a));
    out.push_back(shape()[a]);
  }
  std::vector<int> identity(dim());
  std::iota(identity.begin(), identity.end(), 0);
  if (perm == identity) return *this;
  return trace::make(Op::Permute, dtype(), out, {*this}, PermuteAttr{perm}, loc);
}

Tensor Tensor::transpose(int64_t a, int64_t b, Loc loc) const {
  require(*this, "transpose", loc);
  if (dim() < 2 && (a == 0 || a == -1) && (b == 0 || b == -1)) return *this;
  std::vector<int64_t> dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[trace::normalize_axis(a, dim(), "transpose", loc)],
            dims[trace::normalize_axis(b, dim(), "transpose", loc)]);
  return permute(dims, loc);
}

Tensor Tensor::expand(Shape shape, Loc loc) const {
  require(*this, "expand", loc);
  if (shape.size() < this->shape().size())
    fail_at(loc, "expand", "target {} has fewer dims than {}", shape_str(shape), describe(*this));
  size_t lead = shape.size() - this->shape().size();
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t have = d < lead ? 1 : this->shape()[d - lead];
    if (shape[d] < -1) fail_at(loc, "expand", "negative size {} in {}", shape[d], shape_str(shape));
    if (shape[d] == -1) {
      if (d < lead)
        fail_at(loc, "expand", "-1 is not allowed for the new leading dim {} of {}", d,
                shape_str(shape));
      shape[d] = have;
    }
    if (shape[d] != have && have != 1)
      fail_at(loc, "expand", "cannot expand {} to {}: dim {} is {} (expected 1 or {})",
              describe(*this), shape_str(shape), d, have, shape[d]);
  }
  return trace::broadcast_to(*this, shape, "expand", loc);
}

Tensor Tensor::squeeze(std::optional<int64_t> axis, Loc loc) const {
  require(*this, "squeeze", loc);
  Shape out;
  std::optional<int64_t> a;
  if (axis) a = trace::normalize_axis(*axis, dim(), "squeeze", loc);
  for (int64_t d = 0; d < dim(); ++d)
    if (!(shape()[d] == 1 && (!a || *a == d))) out.push_back(shape()[d]);
  return reshape(out, loc);
}

Tensor Tensor::unsqueeze(int64_t axis, Loc loc) const {
  require(*this, "unsqueeze", loc);
  if (axis < -dim() - 1 || axis > dim())
    fail_at(loc, "unsqueeze", "axis {} is out of range for {} (expected {} <= axis <= {})", axis,
            describe(*this), -dim() - 1, dim());
  int64_t a = axis < 0 ? axis + dim() + 1 : axis;
  Shape out = shape();
  out.insert(out.begin() + a, 1);
  return reshape(out, loc);
}

Tensor Tensor::flatten(int64_t start, int64_t end, Loc loc) const {
  require(*this, "flatten", loc);
  if (dim() == 0) return reshape({1}, loc);
  int64_t s = trace::normalize_axis(start, dim(), "flatten", loc),
          e = trace::normalize_axis(end, dim(), "flatten", loc);
  if (s > e) fail_at(loc, "flatten", "start axis {} is after end axis {}", start, end);
  Shape out(shape().begin(), shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= shape()[d];
  out.push_back(n);
  out.insert(out.end(), shape().begin() + e + 1, shape().end());
  return reshape(out, loc);
}

Tensor Tensor::slice(int64_t axis, std::optional<int64_t> start, std::optional<int64_t> end,
                     int64_t step, Loc loc) const {
  require(*this, "slice", loc);
  if (dim() == 0) fail_at(loc, "slice", "cannot slice a 0-d tensor");
  if (step == 0) fail_at(loc, "slice", "step must not be 0");
  int64_t a = trace::normalize_axis(axis, dim(), "slice", loc), n = shape()[a];
  // Python's slice.indices(n).
  auto clampi = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? *v + n : *v;
    return step > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
  };
  int64_t b = clampi(start, step > 0 ? 0 : n - 1), e = clampi(end, step > 0 ? n : -1);
  // ceil(distance / |step|) without forming distance + |step| - 1 or -INT64_MIN.
  int64_t dist = step > 0 ? e - b : b - e;
  uint64_t mag = step > 0 ? uint64_t(step) : uint64_t(0) - uint64_t(step);
  int64_t count = dist > 0 ? static_cast<int64_t>((uint64_t(dist) - 1) / mag + 1) : 0;
  if (count == n && step == 1) return *this;
  Shape out = shape();
  out[a] = count;
  SliceAttr attr{std::vector<int64_t>(dim(), 0), std::vector<int64_t>(dim(), 1)};
  attr.start[a] = count ? b : 0;
  attr.step[a] = step;
  return trace::make(Op::Slice, dtype(), out, {*this}, attr, loc);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value, Loc loc) {
  require(x, "pad", loc);
  if (pads.size() % 2 || static_cast<int64_t>(pads.size()) > 2 * x.dim())
    fail_at(loc, "pad", "{} pad values for {} (expected (before, after) pairs for at most {} axes)",
            pads.size(), describe(x), x.dim());
  Shape out = x.shape();
  PadAttr attr{std::vector<int64_t>(x.dim(), 0), Scalar::of(x.dtype(), value)};
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    int64_t d = x.dim() - 1 - static_cast<int64_t>(i);
    if (pads[2 * i] < 0 || pads[2 * i + 1] < 0)
      fail_at(loc, "pad", "negative padding {} on axis {} is not supported (expected >= 0)",
              std::min(pads[2 * i], pads[2 * i + 1]), d);
    attr.before[d] = pads[2 * i];
    if (__builtin_add_overflow(out[d], pads[2 * i], &out[d]) ||
        __builtin_add_overflow(out[d], pads[2 * i + 1], &out[d]))
      fail_at(loc, "pad", "padding ({}, {}) of axis {} of {} overflows int64", pads[2 * i],
              pads[2 * i + 1], d, describe(x));
  }
  if (out == x.shape()) return x;
  return trace::make(Op::Pad, x.dtype(), out, {x}, attr, loc);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t axis, Loc loc) {
  if (tensors.empty()) fail_at(loc, "cat", "expected a non-empty list of tensors");
  trace::LabelScope label("cat");
  const Tensor& first = tensors[0];
  for (auto& t : tensors) require(t, "cat", loc);
  if (first.dim() == 0)
    fail_at(loc, "cat", "zero-dimensional tensor {} cannot be concatenated", describe(first));
  int64_t a = trace::normalize_axis(axis, first.dim(), "cat", loc);
  DType t = first.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& x = tensors[i];
    bool same = x.dim() == first.dim();
    for (int64_t d = 0; same && d < x.dim(); ++d) same = d == a || x.shape()[d] == first.shape()[d];
    if (!same)
      fail_at(loc, "cat",
              "tensor {} is {} but tensor 0 is {} (expected equal shapes except along axis {})", i,
              describe(x), describe(first), a);
    t = promote(t, x.dtype());
    if (__builtin_add_overflow(total, x.shape()[a], &total))
      fail_at(loc, "cat", "the extents along axis {} add up past int64 at tensor {} ({})", a, i,
              describe(x));
  }
  if (tensors.size() == 1) return trace::cast(first, t, loc);
  // Each part padded to the full extent with zeros, then summed: pure views plus adds. Floats pad
  // with -0, which is exact: x + -0 is x for every x (+0 would turn -0 into +0).
  Tensor acc;
  int64_t offset = 0;
  for (auto& x : tensors) {
    std::vector<int64_t> pads(2 * (first.dim() - a), 0);
    size_t slot = 2 * (first.dim() - 1 - a);
    pads[slot] = offset;
    pads[slot + 1] = total - offset - x.shape()[a];
    offset += x.shape()[a];
    Tensor part = pad(trace::cast(x, t, loc), pads, -0.0, loc);
    acc = acc.defined() ? (t == DType::Bool ? logical_or(Operand(acc, loc), Operand(part, loc))
                                            : add(Operand(acc, loc), Operand(part, loc)))
                        : part;
  }
  return acc;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis, Loc loc) {
  if (tensors.empty()) fail_at(loc, "stack", "expected a non-empty list of tensors");
  for (auto& t : tensors) {
    require(t, "stack", loc);
    if (t.shape() != tensors[0].shape())
      fail_at(loc, "stack", "tensors differ in shape: {} vs {} (expected all equal)",
              describe(tensors[0]), describe(t));
  }
  int64_t a = trace::normalize_axis(axis, tensors[0].dim() + 1, "stack", loc);
  std::vector<Tensor> parts;
  for (auto& t : tensors) parts.push_back(t.unsqueeze(a, loc));
  return cat(parts, a, loc);
}

Tensor flip(const Tensor& x, const std::vector<int64_t>& axes, Loc loc) {
  require(x, "flip", loc);
  Tensor y = x;
  std::vector<int64_t> seen;
  for (int64_t axis : axes) {
    int64_t a = trace::normalize_axis(axis, x.dim(), "flip", loc);
    if (std::find(seen.begin(), seen.end(), a) != seen.end())
      fail_at(loc, "flip", "axis {} appears twice in the axes of {}", axis, describe(x));
    seen.push_back(a);
    if (x.dim() > 0) y = y.slice(a, {}, {}, -1, loc);
  }
  return y;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis, Loc loc) {
  require(x, "split", loc);
  if (x.dim() == 0) fail_at(loc, "split", "cannot split a 0-d tensor {}", describe(x));
  int64_t a = trace::normalize_axis(axis, x.dim(), "split", loc);
  int64_t n = x.shape()[a];
  if (size <= 0 && !(size == 0 && n == 0))
    fail_at(loc, "split", "pieces must have a positive size, got {} for axis {} of {}", size, axis,
            describe(x));
  std::vector<Tensor> pieces;
  for (int64_t start = 0; start < n || pieces.empty(); start += size)
    pieces.push_back(x.slice(a, start, std::min(start + size, n), 1, loc));
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t axis, Loc loc) {
  require(x, "chunk", loc);
  if (chunks <= 0)
    fail_at(loc, "chunk", "the number of chunks must be positive, got {} for {}", chunks,
            describe(x));
  if (x.dim() == 0) fail_at(loc, "chunk", "cannot chunk a 0-d tensor {}", describe(x));
  int64_t n = x.shape()[trace::normalize_axis(axis, x.dim(), "chunk", loc)];
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), axis, loc);
}

} // namespace kiln
