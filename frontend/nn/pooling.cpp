// Pooling as reductions over sliding-window views; adaptive average pooling as two averaging
// matmuls (exact for bins of unequal size), or a plain average pool when the bins are equal.
#include "kiln/nn/pooling.h"

#include "../trace.h"
#include "kiln/creation.h"
#include "windows.h"

#include <limits>

namespace kiln::nn::functional {
using trace::describe;
using trace::fail_at;

namespace {

struct Pool {
  Tensor x; // [N, C, H, W]
  bool unbatched;
};

Pool prepare(const Tensor& x_in, const char* op, Loc loc) {
  trace::require(x_in, op, loc);
  if ((x_in.dim() != 3 && x_in.dim() != 4) || !is_float(x_in.dtype()))
    fail_at(loc, op, "input {} must be floating point [N, C, H, W] or [C, H, W]", describe(x_in));
  bool unbatched = x_in.dim() == 3;
  return {unbatched ? x_in.unsqueeze(0, loc) : x_in, unbatched};
}

// Windows of the padded input as [N, C, OH, OW, KH, KW]: the reduced axes trailing, so the
// reduction can fuse into its consumer.
Tensor pooled_windows(const Pool& p, const char* op, Size2 k, Size2 s, Size2 pad_, Size2 d,
                      double pad_value, Loc loc) {
  if (k.h < 1 || k.w < 1 || s.h < 1 || s.w < 1 || d.h < 1 || d.w < 1 || pad_.h < 0 || pad_.w < 0)
    fail_at(loc, op,
            "kernel ({}, {}), stride ({}, {}) and dilation ({}, {}) must be >= 1, padding ({}, {}) "
            ">= 0",
            k.h, k.w, s.h, s.w, d.h, d.w, pad_.h, pad_.w);
  if (2 * pad_.h > k.h || 2 * pad_.w > k.w)
    fail_at(loc, op, "padding ({}, {}) must be at most half the kernel ({}, {})", pad_.h, pad_.w,
            k.h, k.w);
  const Shape& sh = p.x.shape();
  if (detail::window_count(sh[2] + 2 * pad_.h, k.h, s.h, d.h) <= 0 ||
      detail::window_count(sh[3] + 2 * pad_.w, k.w, s.w, d.w) <= 0)
    fail_at(loc, op, "kernel ({}, {}) does not fit the input {} padded by ({}, {})", k.h, k.w,
            describe(p.x), pad_.h, pad_.w);
  Tensor xp = pad(p.x, {pad_.w, pad_.w, pad_.h, pad_.h}, pad_value, loc);
  return detail::windows2d(xp, k, s, d, loc).permute({0, 1, 3, 5, 2, 4}, loc);
}

Tensor finish(const Pool& p, const Tensor& y, Loc loc) {
  return p.unbatched ? y.squeeze(0, loc) : y;
}

// [out, in] rows averaging the bins floor(i * in / out) .. ceil((i + 1) * in / out).
Tensor bin_matrix(int64_t in, int64_t out, DType dtype, Device device, Loc loc) {
  std::vector<double> m(out * in, 0.0);
  for (int64_t i = 0; i < out; ++i) {
    int64_t lo = i * in / out, hi = ((i + 1) * in + out - 1) / out;
    for (int64_t j = lo; j < hi; ++j) m[i * in + j] = 1.0 / static_cast<double>(hi - lo);
  }
  return tensor(m, Shape{out, in}, loc).to(device, loc).to(dtype, loc);
}

} // namespace

Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding,
                  Size2 dilation, Loc loc) {
  Pool p = prepare(x, "max_pool2d", loc);
  trace::LabelScope label("max_pool2d");
  Tensor w = pooled_windows(p, "max_pool2d", kernel, stride.value_or(kernel), padding, dilation,
                            -std::numeric_limits<double>::infinity(), loc);
  if (!w.requires_grad()) return finish(p, w.max({4, 5}, false, loc), loc);
  // PyTorch sends a window's gradient to its first maximum alone (max_pool2d_with_indices),
  // where a max reduction would share it among ties: the value is taken at the argmax instead.
  Tensor flat = w.flatten(4, 5, loc);
  int64_t k = flat.shape().back();
  Tensor index = arange(0, static_cast<double>(k), 1, DType::I64, loc).to(flat.device(), loc);
  Tensor first = eq(Operand(index, loc), Operand(flat.argmax(-1, true, loc), loc));
  Tensor picked = where(Operand(first, loc), Operand(flat, loc), Operand(0, loc));
  return finish(p, picked.sum({-1}, false, loc), loc);
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding,
                  bool count_include_pad, Loc loc) {
  Pool p = prepare(x, "avg_pool2d", loc);
  trace::LabelScope label("avg_pool2d");
  Size2 s = stride.value_or(kernel);
  Tensor sum =
      pooled_windows(p, "avg_pool2d", kernel, s, padding, 1, 0, loc).sum({4, 5}, false, loc);
  if (count_include_pad || (padding.h == 0 && padding.w == 0))
    return finish(
        p, mul(Operand(sum, loc), Operand(1.0 / static_cast<double>(kernel.h * kernel.w), loc)),
        loc);
  // Divide by how many real (unpadded) elements each window covers: the same pooling of ones.
  Pool ones{full({1, 1, p.x.shape()[2], p.x.shape()[3]}, 1.0,
                 {.dtype = p.x.dtype(), .device = p.x.device()}, loc),
            false};
  Tensor count =
      pooled_windows(ones, "avg_pool2d", kernel, s, padding, 1, 0, loc).sum({4, 5}, false, loc);
  return finish(p, div(Operand(sum, loc), Operand(count, loc)), loc);
}

Tensor adaptive_avg_pool2d(const Tensor& x, Size2 out, Loc loc) {
  Pool p = prepare(x, "adaptive_avg_pool2d", loc);
  if (out.h < 1 || out.w < 1)
    fail_at(loc, "adaptive_avg_pool2d", "output size ({}, {}) must be >= 1", out.h, out.w);
  trace::LabelScope label("adaptive_avg_pool2d");
  int64_t H = p.x.shape()[2], W = p.x.shape()[3];
  if (H % out.h == 0 && W % out.w == 0) // equal bins: an ordinary average pool
    return finish(p, avg_pool2d(p.x, Size2{H / out.h, W / out.w}, std::nullopt, 0, true, loc), loc);
  Tensor rows = bin_matrix(H, out.h, p.x.dtype(), p.x.device(), loc); // [OH, H]
  Tensor cols =
      bin_matrix(W, out.w, p.x.dtype(), p.x.device(), loc).transpose(0, 1, loc); // [W, OW]
  return finish(p, matmul(matmul(rows, p.x, loc), cols, loc), loc);
}

} // namespace kiln::nn::functional
