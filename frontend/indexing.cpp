// Indexing: masked_fill, gather, index_select and scatter_add, composed from primitives: a
// one-hot comparison with the index selects, a sum over the one-hot axis reads or accumulates.
#include "kiln/creation.h"
#include "trace.h"

namespace kiln {
using trace::describe;
using trace::fail_at;

namespace {

void check_index(const Tensor& index, const char* op, Loc loc) {
  trace::require(index, op, loc);
  if (index.dtype() != DType::I64 && index.dtype() != DType::I32)
    fail_at(loc, op, "index {} must be i64 or i32", describe(index));
}

// PyTorch's rule for gather and scatter: index has t's rank and is no larger than t on every
// axis except `free_axis` (none when negative).
void check_fits(const char* op, const Tensor& index, const Tensor& t, const char* name,
                int64_t free_axis, Loc loc) {
  if (index.dim() != t.dim())
    fail_at(loc, op, "index {} and {} {} differ in rank (expected equal)", describe(index), name,
            describe(t));
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d != free_axis && index.shape()[d] > t.shape()[d])
      fail_at(loc, op,
              "index {} is larger than {} {} on axis {} (expected index.size(d) <= {}.size(d))",
              describe(index), name, describe(t), d, name);
}

// t without what lies past `shape` on each axis.
Tensor leading_part(const Tensor& t, const Shape& shape, Loc loc) {
  Tensor out = t;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (shape[d] < t.shape()[d]) out = out.slice(d, 0, shape[d], 1, loc);
  return out;
}

} // namespace

Tensor trace::one_hot(const Tensor& index, int64_t classes, int64_t class_axis, Loc loc) {
  Shape cls_shape(index.dim() - class_axis + 1, 1); // [classes, 1, ...] aligned at class_axis
  cls_shape[0] = classes;
  Tensor cls = arange(0, static_cast<double>(classes), 1, index.dtype(), loc)
                   .to(index.device(), loc)
                   .reshape(cls_shape, loc);
  return eq(Operand(index.unsqueeze(class_axis, loc), loc), Operand(cls, loc));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, Loc loc) {
  trace::require(x, "masked_fill", loc);
  trace::require(mask, "masked_fill", loc);
  if (mask.dtype() != DType::Bool)
    fail_at(loc, "masked_fill", "mask {} must be bool", describe(mask));
  if (trace::broadcast_shapes(x.shape(), mask.shape(), "masked_fill", loc) != x.shape())
    fail_at(loc, "masked_fill", "mask {} does not broadcast to the shape of {}", describe(mask),
            describe(x));
  // A kernel parameter: filling with another value reuses the compiled kernel.
  Tensor v = trace::constant(value, x.dtype(), loc, /*param=*/is_float(x.dtype()));
  trace::LabelScope label("masked_fill");
  return where(Operand(mask, loc), Operand(v, loc), Operand(x, loc));
}

namespace {

// gather along axis a of an index already checked.
Tensor gathered(const Tensor& x, int64_t a, const Tensor& index, Loc loc) {
  Shape rows = index.shape();
  rows[a] = x.shape()[a];
  // picked[..., i, c, ...] = x[..., c, ...] where index[..., i, ...] == c, else 0.
  Tensor hot = trace::one_hot(index, x.shape()[a], a + 1, loc);
  Tensor picked =
      where(Operand(hot, loc), Operand(leading_part(x, rows, loc).unsqueeze(a, loc), loc),
            Operand(0, loc));
  return trace::cast(picked.sum({a + 1}, false, loc), x.dtype(), loc);
}

} // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index, Loc loc) {
  trace::require(x, "gather", loc);
  check_index(index, "gather", loc);
  if (x.dim() == 0) fail_at(loc, "gather", "x {} must have at least one axis", describe(x));
  int64_t a = trace::normalize_axis(axis, x.dim(), "gather", loc);
  check_fits("gather", index, x, "x", a, loc);
  trace::check_indices(index, x.shape()[a], "gather", loc);
  trace::LabelScope label("gather");
  return gathered(x, a, index, loc);
}

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index, Loc loc) {
  trace::require(x, "index_select", loc);
  check_index(index, "index_select", loc);
  if (x.dim() == 0) fail_at(loc, "index_select", "x {} must have at least one axis", describe(x));
  if (index.dim() != 1) fail_at(loc, "index_select", "index {} must be 1-D", describe(index));
  int64_t a = trace::normalize_axis(axis, x.dim(), "index_select", loc);
  trace::check_indices(index, x.shape()[a], "index_select", loc);
  trace::LabelScope label("index_select");
  Shape column(x.dim(), 1), out = x.shape();
  column[a] = out[a] = index.numel();
  // The 1-D index was checked: its broadcast is not realized and scanned again by gather().
  return gathered(x, a, index.reshape(column, loc).expand(out, loc), loc);
}

Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src, Loc loc) {
  trace::require(x, "scatter_add", loc);
  trace::require(src, "scatter_add", loc);
  check_index(index, "scatter_add", loc);
  if (src.dtype() != x.dtype())
    fail_at(loc, "scatter_add", "src {} and x {} differ in dtype (expected equal)", describe(src),
            describe(x));
  if (x.dim() == 0) fail_at(loc, "scatter_add", "x {} must have at least one axis", describe(x));
  int64_t a = trace::normalize_axis(axis, x.dim(), "scatter_add", loc);
  check_fits("scatter_add", index, x, "x", a, loc);
  check_fits("scatter_add", index, src, "src", -1, loc);
  trace::check_indices(index, x.shape()[a], "scatter_add", loc);
  trace::LabelScope label("scatter_add");
  // spread[..., c, ...] = the sum of src[..., i, ...] over the i where index[..., i, ...] == c.
  Tensor hot = trace::one_hot(index, x.shape()[a], a + 1, loc);
  Tensor s = leading_part(src, index.shape(), loc).unsqueeze(a + 1, loc);
  Tensor spread = where(Operand(hot, loc), Operand(s, loc), Operand(0, loc)).sum({a}, false, loc);
  std::vector<int64_t> pads; // zeros up to x's extent on the other axes, last axis first
  for (int64_t d = x.dim() - 1; d >= 0; --d)
    pads.insert(pads.end(), {0, x.shape()[d] - spread.shape()[d]});
  spread = pad(trace::cast(spread, x.dtype(), loc), pads, 0, loc);
  return add(Operand(x, loc), Operand(spread, loc));
}

} // namespace kiln
