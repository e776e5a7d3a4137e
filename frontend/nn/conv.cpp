// conv2d as an implicit GEMM: the windows of the padded input, viewed as a
// [N, groups, C/groups * KH * KW, OH * OW] matrix, multiply the weight as one batched matmul
// whose innermost loop runs over contiguous output pixels; the GEMM's packing reads the view.
#include "kiln/nn/conv.h"

#include "../trace.h"
#include "kiln/nn/init.h"
#include "windows.h"

#include <cmath>

namespace kiln::nn {
using trace::describe;
using trace::fail_at;

namespace {

void check_conv(const Tensor& x, const Tensor& w, const Tensor& b, Size2 stride, Size2 padding,
                Size2 dilation, int64_t groups, Loc loc) {
  trace::require(x, "conv2d", loc);
  trace::require(w, "conv2d", loc);
  if (x.dim() != 4 || !is_float(x.dtype()))
    fail_at(loc, "conv2d", "input {} must be floating point [N, C, H, W] or [C, H, W]",
            describe(x));
  if (w.dim() != 4 || !is_float(w.dtype()))
    fail_at(loc, "conv2d", "weight {} must be floating point [O, C / groups, KH, KW]", describe(w));
  if (stride.h < 1 || stride.w < 1 || dilation.h < 1 || dilation.w < 1 || padding.h < 0 ||
      padding.w < 0 || groups < 1)
    fail_at(loc, "conv2d",
            "stride ({}, {}) and dilation ({}, {}) must be >= 1, padding ({}, {}) >= 0, groups {} "
            ">= 1",
            stride.h, stride.w, dilation.h, dilation.w, padding.h, padding.w, groups);
  int64_t C = x.shape()[1], O = w.shape()[0];
  if (C % groups || O % groups)
    fail_at(loc, "conv2d", "groups {} must divide the input channels {} and output channels {}",
            groups, C, O);
  if (w.shape()[1] * groups != C)
    fail_at(loc, "conv2d",
            "input {} has {} channels but weight {} expects {} (weight dim 1 {} x groups {})",
            describe(x), C, describe(w), w.shape()[1] * groups, w.shape()[1], groups);
  if (b.defined() && (b.dim() != 1 || b.shape()[0] != O))
    fail_at(loc, "conv2d", "bias {} must be [{}] for weight {}", describe(b), O, describe(w));
}

} // namespace

Tensor functional::conv2d(const Tensor& x_in, const Tensor& w, const Tensor& b, Size2 stride,
                          Size2 padding, Size2 dilation, int64_t groups, Loc loc) {
  trace::require(x_in, "conv2d", loc);
  bool unbatched = x_in.dim() == 3;
  Tensor x = unbatched ? x_in.unsqueeze(0, loc) : x_in;
  check_conv(x, w, b, stride, padding, dilation, groups, loc);
  trace::LabelScope label("conv2d");
  int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  int64_t O = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3], G = groups;
  int64_t OH = detail::window_count(H + 2 * padding.h, KH, stride.h, dilation.h);
  int64_t OW = detail::window_count(W + 2 * padding.w, KW, stride.w, dilation.w);
  if (OH <= 0 || OW <= 0)
    fail_at(loc, "conv2d",
            "kernel {}x{} (dilation {}, {}) does not fit the input {} padded by ({}, {})", KH, KW,
            dilation.h, dilation.w, describe(x_in), padding.h, padding.w);
  Tensor xp = pad(x, {padding.w, padding.w, padding.h, padding.h}, 0, loc);
  Tensor win = detail::windows2d(xp, {KH, KW}, stride, dilation, loc); // [N,C,KH,OH,KW,OW]
  int64_t Cg = C / G, K = Cg * KH * KW;
  // Rows ordered (channel, kh, kw) like the weight's own layout, so the weight is a reshape.
  // The columns stay a view of the padded input: the packed GEMM evaluates its index (and the
  // pad's mask) while packing B, so no im2col buffer is written (codegen/cpu/emit_pack_lanes.cpp).
  Tensor cols = win.reshape({N, G, Cg, KH, OH, KW, OW}, loc).permute({0, 1, 2, 3, 5, 4, 6}, loc);
  cols = cols.reshape({N, G, K, OH * OW}, loc);
  Tensor wm = w.reshape({G, O / G, K}, loc);
  Tensor y = matmul(wm, cols, loc); // [N, G, O/G, OH*OW]
  // The gradient arriving here (through activations and pooling) feeds two matmuls: as a
  // buffer of its own it is computed once instead of once per reduction step of each.
  if (y.requires_grad()) y = detail::materialize(y, true, loc);
  y = y.reshape({N, O, OH, OW}, loc);
  if (b.defined()) y = add(Operand(y, loc), Operand(b.reshape({O, 1, 1}, loc), loc));
  return unbatched ? y.squeeze(0, loc) : y;
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 k, Conv2dOptions o, Generator* gen)
    : o_(o) {
  if (in_channels <= 0 || out_channels <= 0 || k.h <= 0 || k.w <= 0)
    throw Error(fmt::format("[Conv2d] channels and kernel size must be positive, got in {}, out "
                            "{}, kernel ({}, {})",
                            in_channels, out_channels, k.h, k.w));
  if (o.groups < 1 || in_channels % o.groups || out_channels % o.groups)
    throw Error(fmt::format("[Conv2d] groups {} must divide in_channels {} and out_channels {}",
                            o.groups, in_channels, out_channels));
  int64_t fan_in = in_channels / o.groups * k.h * k.w;
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  weight =
      register_parameter("weight", init::uniform({out_channels, in_channels / o.groups, k.h, k.w},
                                                 -bound, bound, gen));
  if (o.bias) bias = register_parameter("bias", init::uniform({out_channels}, -bound, bound, gen));
}

Tensor Conv2d::forward(const Tensor& x, Loc loc) {
  return functional::conv2d(x, weight, bias, o_.stride, o_.padding, o_.dilation, o_.groups, loc);
}

} // namespace kiln::nn
