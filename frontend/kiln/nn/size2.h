// kiln::nn::Size2: a (height, width) pair for kernel sizes, strides, padding and dilation; a
// single number converts to the same value for both, as in PyTorch.
#pragma once
#include <cstdint>

namespace kiln::nn {

struct Size2 {
  int64_t h, w;
  Size2(int64_t v) : h(v), w(v) {} // NOLINT: implicit, so `stride = 2` reads like PyTorch
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2&) const = default;
};

} // namespace kiln::nn
