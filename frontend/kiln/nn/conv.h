// 2-D convolution: kiln::nn::functional::conv2d and the Conv2d layer (stride, padding,
// dilation, groups), lowered as im2col views plus one matmul.
#pragma once
#include "kiln/creation.h"
#include "kiln/nn/module.h"
#include "kiln/nn/size2.h"

namespace kiln::nn {

namespace functional {
// x [N, C, H, W] (or [C, H, W]), weight [O, C / groups, KH, KW], bias [O] or undefined ->
// [N, O, OH, OW], OH = (H + 2 * padding.h - dilation.h * (KH - 1) - 1) / stride.h + 1.
// Zero padding, like torch.nn.functional.conv2d.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Size2 stride = 1, Size2 padding = 0, Size2 dilation = 1, int64_t groups = 1,
              Loc loc = Loc::current());
} // namespace functional

struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
public:
  // Weight [out, in / groups, KH, KW] and bias [out] initialised like PyTorch: U(-b, b) with
  // b = 1 / sqrt(fan_in), fan_in = in / groups * KH * KW (kaiming_uniform with a = sqrt(5)).
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel_size, Conv2dOptions o = {},
         Generator* gen = nullptr);
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  Tensor weight, bias;
  const Conv2dOptions& options() const { return o_; }

private:
  Conv2dOptions o_;
};

} // namespace kiln::nn
