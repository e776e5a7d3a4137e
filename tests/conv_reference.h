// Convolution by its textbook definition over host data: the oracle for conv2d's values and both
// of its gradients (tests/test_conv.cpp, tests/test_nn_layers.cpp).
#pragma once
#include "test_util.h"

#include <utility>

namespace kt {

struct ConvGeometry {
  kiln::nn::Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
};

inline int64_t conv_out_extent(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

inline Shape conv_out_shape(const Shape& x, const Shape& w, const ConvGeometry& c) {
  return {x[0], w[0], conv_out_extent(x[2], w[2], c.stride.h, c.padding.h, c.dilation.h),
          conv_out_extent(x[3], w[3], c.stride.w, c.padding.w, c.dilation.w)};
}

// Calls tap(y, x, w) with the flat indices of every multiply-add y[.] += x[.] * w[.] of the
// convolution of x [N, C, H, W] by w [O, C / groups, KH, KW]; padding contributes none.
template <class Tap>
void for_each_conv_tap(const Shape& xs, const Shape& ws, const ConvGeometry& c, Tap tap) {
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  int64_t O = ws[0], Cg = ws[1], KH = ws[2], KW = ws[3];
  Shape ys = conv_out_shape(xs, ws, c);
  int64_t OH = ys[2], OW = ys[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          int64_t yi = ((n * O + o) * OH + i) * OW + j, g = o / (O / c.groups);
          for (int64_t cc = 0; cc < Cg; ++cc)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t h = i * c.stride.h - c.padding.h + kh * c.dilation.h;
                int64_t ww = j * c.stride.w - c.padding.w + kw * c.dilation.w;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                tap(yi, ((n * C + g * Cg + cc) * H + h) * W + ww,
                    ((o * Cg + cc) * KH + kh) * KW + kw);
              }
        }
}

// conv2d(x, w, b) in double; b may be undefined.
inline std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& b,
                                       const ConvGeometry& c) {
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>();
  Shape ys = conv_out_shape(x.shape(), w.shape(), c);
  std::vector<double> y(ys[0] * ys[1] * ys[2] * ys[3], 0.0);
  if (b.defined()) {
    auto bv = b.to_vector<double>();
    for (size_t i = 0; i < y.size(); ++i) y[i] = bv[(i / (ys[2] * ys[3])) % ys[1]];
  }
  for_each_conv_tap(x.shape(), w.shape(), c,
                    [&](int64_t yi, int64_t xi, int64_t wi) { y[yi] += xv[xi] * wv[wi]; });
  return y;
}

// Gradients of sum(conv2d(x, w) * gy) with respect to x and w.
inline std::pair<std::vector<double>, std::vector<double>>
direct_conv_grads(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGeometry& c) {
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), gv = gy.to_vector<double>();
  std::vector<double> dx(xv.size(), 0.0), dw(wv.size(), 0.0);
  for_each_conv_tap(x.shape(), w.shape(), c, [&](int64_t yi, int64_t xi, int64_t wi) {
    dx[xi] += gv[yi] * wv[wi];
    dw[wi] += gv[yi] * xv[xi];
  });
  return {dx, dw};
}

} // namespace kt
