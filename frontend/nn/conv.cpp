// conv2d as an implicit GEMM: the windows of the padded input, viewed as a
// [N, groups, C/groups * KH * KW, OH * OW] matrix, multiply the weight as one batched matmul
// whose innermost loop runs over contiguous output pixels; the GEMM's packing reads the view.
#include "kiln/nn/conv.h"

#include "../trace.h"
#include "kiln/nn/init.h"
#include "windows.h"

#include <algorithm>
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

// Pads (positive) or crops (negative) axis `axis` of x by `before` and `after`.
Tensor pad_or_crop(const Tensor& x, int64_t axis, int64_t before, int64_t after, Loc loc) {
  int64_t n = x.shape()[axis];
  Tensor y = x.slice(axis, std::max<int64_t>(0, -before), n - std::max<int64_t>(0, -after), 1, loc);
  std::vector<int64_t> pads(2 * (x.dim() - axis), 0); // from the last axis, like torch
  pads[pads.size() - 2] = std::max<int64_t>(0, before);
  pads[pads.size() - 1] = std::max<int64_t>(0, after);
  return before > 0 || after > 0 ? pad(y, pads, 0, loc) : y;
}

// Whether t is a buffer in its own layout: a copy or a realized value, or reshapes of one back
// to its shape.
bool is_buffer(const Tensor& t) {
  const Node* n = t.node().get();
  while (n->op == Op::Reshape && !n->realized()) n = n->inputs[0].get();
  return (n->realized() || n->op == Op::Copy) && n->shape == t.shape();
}

// The gradient of conv2d's input x [N, C, H, W] given the output's gradient gy [N, O, OH, OW]:
// itself a convolution (through the same implicit GEMM, no im2col buffer and no col2im sum) of
// gy spread out by the stride and shifted, with the weight's taps flipped and its channels
// transposed within each group. dx[h] = sum over taps k and outputs o with o*s + k*d - p = h of
// gy[o] w[k]: with z = gy spread out (z[o*s] = gy[o]) and the taps flipped (k' = KH-1-k),
// dx[h] = sum_k' z[h + p - (KH-1)*d + k'*d] wf[k'], a stride-1 correlation of z shifted by
// (KH-1)*d - p.
Tensor conv_input_grad(const Tensor& gy, const Tensor& w, const Shape& xs, Size2 stride,
                       Size2 padding, Size2 dilation, int64_t G, Loc loc) {
  int64_t N = gy.shape()[0], O = gy.shape()[1], OH = gy.shape()[2], OW = gy.shape()[3];
  int64_t Cg = w.shape()[1], KH = w.shape()[2], KW = w.shape()[3];
  // Both operands as plain buffers: gy arrives as a view of the product's gradient (reshaped,
  // sliced), and under the spread and the pad's masks, whose lanes hold out-of-range coordinates,
  // the index simplifier could not undo that reshape's div/mod: the packing would evaluate them
  // per element (4x slower than the forward). gy is normally the copy conv2d's forward makes of
  // its output's gradient, in this shape (read as it is); anything else is copied, by the kernel
  // that computes it anyway. The flipped weight is small.
  Tensor z = is_buffer(gy) ? gy : detail::materialize(gy, false, loc);
  if (stride.h > 1 || stride.w > 1) {
    z = pad(gy.reshape({N, O, OH, 1, OW, 1}, loc), {0, stride.w - 1, 0, 0, 0, stride.h - 1}, 0,
            loc);
    z = z.reshape({N, O, OH * stride.h, OW * stride.w}, loc);
    z = z.slice(2, 0, (OH - 1) * stride.h + 1, 1, loc).slice(3, 0, (OW - 1) * stride.w + 1, 1, loc);
  }
  int64_t bh = (KH - 1) * dilation.h - padding.h, bw = (KW - 1) * dilation.w - padding.w;
  int64_t ah = xs[2] + (KH - 1) * dilation.h - z.shape()[2] - bh;
  int64_t aw = xs[3] + (KW - 1) * dilation.w - z.shape()[3] - bw;
  if (std::min({bh, ah, bw, aw}) >= 0) {
    z = pad(z, {bw, aw, bh, ah}, 0, loc); // one pad, one mask
  } else {
    z = pad_or_crop(z, 2, bh, ah, loc);
    z = pad_or_crop(z, 3, bw, aw, loc);
  }
  Tensor wf = w.reshape({G, O / G, Cg, KH, KW}, loc).permute({0, 2, 1, 3, 4}, loc);
  wf = wf.reshape({G * Cg, O / G, KH, KW}, loc).slice(2, {}, {}, -1, loc).slice(3, {}, {}, -1, loc);
  wf = detail::materialize(wf, false, loc);
  return functional::conv2d(z, wf, Tensor(), 1, 0, dilation, G, loc);
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
  if (x.requires_grad() && y.node()->op == Op::Matmul) {
    // The product's own rule would give the gradient of the im2col view (an [N, K, OH*OW]
    // buffer, then a col2im sum per window axis); the input's gradient is a convolution instead.
    NodePtr xn = x.node(), wn = w.node();
    Shape xs = x.shape();
    trace::set_custom_grad(y, [=](const NodePtr& n, const NodePtr& g) {
      Tensor gt(g), a(n->inputs[0]), bm(n->inputs[1]);
      CustomGrads out;
      out.inputs = {a.requires_grad() ? matmul(gt, bm.transpose(-1, -2, loc), loc).node() : nullptr,
                    nullptr};
      Tensor gy = gt.reshape({xs[0], wn->shape[0], OH, OW}, loc);
      Tensor dx = conv_input_grad(gy, Tensor(wn), xs, stride, padding, dilation, G, loc);
      out.below.push_back({xn.get(), dx.node()});
      return out;
    });
  }
  // The gradient arriving here (through activations and pooling) feeds two matmuls: as a
  // buffer of its own it is computed once instead of once per reduction step of each. Its
  // shape is the output's, so the input's gradient reads it as it is (conv_input_grad).
  y = y.reshape({N, O, OH, OW}, loc);
  if (y.requires_grad()) y = detail::materialize(y, true, loc);
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
