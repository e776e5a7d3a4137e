// 2-D pooling: max, average and adaptive average, as functions and layers.
#pragma once
#include "kiln/nn/module.h"
#include "kiln/nn/size2.h"

#include <optional>

namespace kiln::nn {

namespace functional {
// x [N, C, H, W] (or [C, H, W]); stride defaults to the kernel size. Padding counts as -inf.
// The gradient of a window is shared evenly by its elements equal to the maximum (one element
// in PyTorch, which picks the first; the same wherever the maximum is unique).
Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = {},
                  Size2 padding = 0, Size2 dilation = 1, Loc loc = Loc::current());
// Zero padding; count_include_pad divides by the full window size (PyTorch's default), else by
// the number of input elements the window covers.
Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = {},
                  Size2 padding = 0, bool count_include_pad = true, Loc loc = Loc::current());
// Output [N, C, OH, OW]: cell (i, j) averages rows floor(i * H / OH) .. ceil((i + 1) * H / OH)
// and the same for columns, like torch.nn.functional.adaptive_avg_pool2d.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size, Loc loc = Loc::current());
} // namespace functional

class MaxPool2d : public Module {
public:
  MaxPool2d(Size2 kernel, std::optional<Size2> stride = {}, Size2 padding = 0, Size2 dilation = 1)
      : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding), dilation_(dilation) {}
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override {
    return functional::max_pool2d(x, kernel_, stride_, padding_, dilation_, loc);
  }

private:
  Size2 kernel_, stride_, padding_, dilation_;
};

class AvgPool2d : public Module {
public:
  AvgPool2d(Size2 kernel, std::optional<Size2> stride = {}, Size2 padding = 0,
            bool count_include_pad = true)
      : kernel_(kernel), stride_(stride.value_or(kernel)), padding_(padding),
        count_include_pad_(count_include_pad) {}
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override {
    return functional::avg_pool2d(x, kernel_, stride_, padding_, count_include_pad_, loc);
  }

private:
  Size2 kernel_, stride_, padding_;
  bool count_include_pad_;
};

class AdaptiveAvgPool2d : public Module {
public:
  explicit AdaptiveAvgPool2d(Size2 output_size) : size_(output_size) {}
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override {
    return functional::adaptive_avg_pool2d(x, size_, loc);
  }

private:
  Size2 size_;
};

} // namespace kiln::nn
