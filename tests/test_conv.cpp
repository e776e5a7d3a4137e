// conv2d as an implicit GEMM (the packed GEMM reads the padded input's windows while packing):
// forward against direct loops and the reference interpreter over a seeded sweep of odd shapes,
// strides, paddings, dilations and groups in f32 and f64; both backward convolutions (the input's
// gradient is itself a convolution, frontend/nn/conv.cpp) against direct loops and the
// interpreter; and that a 3x3 convolution writes no im2col buffer.
#include "test_util.h"

#include <random>

using namespace kt;
namespace F = kiln::nn::functional;
using kiln::nn::Size2;

namespace {

struct ConvCase {
  Shape x, w;
  Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  std::string str() const {
    return fmt::format("x {} w {} stride ({}, {}) padding ({}, {}) dilation ({}, {}) groups {}",
                       shape_s(x), shape_s(w), stride.h, stride.w, padding.h, padding.w, dilation.h,
                       dilation.w, groups);
  }
};

int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// The textbook definition, over host data.
std::vector<double> direct_conv(const Tensor& x, const Tensor& w, const Tensor& b,
                                const ConvCase& c) {
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3];
  int64_t O = c.w[0], Cg = c.w[1], KH = c.w[2], KW = c.w[3];
  int64_t OH = out_extent(H, KH, c.stride.h, c.padding.h, c.dilation.h);
  int64_t OW = out_extent(W, KW, c.stride.w, c.padding.w, c.dilation.w);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double s = bv[o];
          int64_t g = o / (O / c.groups);
          for (int64_t cc = 0; cc < Cg; ++cc)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t h = i * c.stride.h - c.padding.h + kh * c.dilation.h;
                int64_t ww = j * c.stride.w - c.padding.w + kw * c.dilation.w;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += xv[((n * C + g * Cg + cc) * H + h) * W + ww] *
                     wv[((o * Cg + cc) * KH + kh) * KW + kw];
              }
          y.push_back(s);
        }
  return y;
}

// Gradients of sum(conv(x, w, b) * gy) by direct loops: {dx, dw}.
std::pair<std::vector<double>, std::vector<double>>
direct_conv_grads(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvCase& c) {
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), gv = gy.to_vector<double>();
  int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3];
  int64_t O = c.w[0], Cg = c.w[1], KH = c.w[2], KW = c.w[3];
  int64_t OH = out_extent(H, KH, c.stride.h, c.padding.h, c.dilation.h);
  int64_t OW = out_extent(W, KW, c.stride.w, c.padding.w, c.dilation.w);
  std::vector<double> dx(xv.size(), 0), dw(wv.size(), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < OH; ++i)
        for (int64_t j = 0; j < OW; ++j) {
          double g = gv[((n * O + o) * OH + i) * OW + j];
          int64_t grp = o / (O / c.groups);
          for (int64_t cc = 0; cc < Cg; ++cc)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                int64_t h = i * c.stride.h - c.padding.h + kh * c.dilation.h;
                int64_t ww = j * c.stride.w - c.padding.w + kw * c.dilation.w;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                int64_t xi = ((n * C + grp * Cg + cc) * H + h) * W + ww;
                int64_t wi = ((o * Cg + cc) * KH + kh) * KW + kw;
                dx[xi] += g * wv[wi];
                dw[wi] += g * xv[xi];
              }
        }
  return {dx, dw};
}

// Odd shapes whose products are large enough for the packed GEMM (at least 4 output channels
// per group and 8 output pixels), with edges in every direction of its tiles.
std::vector<ConvCase> sweep(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<ConvCase> cases;
  while (static_cast<int>(cases.size()) < count) {
    ConvCase c;
    c.groups = pick(1, 3);
    int64_t cg = pick(1, 7), og = pick(4, 19), kh = pick(1, 4), kw = pick(1, 4);
    c.stride = {pick(1, 3), pick(1, 2)};
    c.dilation = {pick(1, 2), pick(1, 3)};
    c.padding = {pick(0, 2), pick(0, 3)};
    c.x = {pick(1, 3), cg * c.groups, pick(5, 19), pick(5, 23)};
    c.w = {og * c.groups, cg, kh, kw};
    int64_t oh = out_extent(c.x[2], kh, c.stride.h, c.padding.h, c.dilation.h);
    int64_t ow = out_extent(c.x[3], kw, c.stride.w, c.padding.w, c.dilation.w);
    if (oh < 1 || ow < 1 || oh * ow < 8) continue;
    cases.push_back(c);
  }
  // K past one KC block of the GEMM (several passes over K) and a 3x3 "same" convolution.
  cases.push_back({{2, 40, 11, 13}, {12, 40, 3, 3}, 1, 1, 1, 1});
  cases.push_back({{1, 24, 9, 30}, {21, 8, 3, 3}, {2, 1}, {1, 2}, {1, 2}, 3});
  return cases;
}

} // namespace

TEST_CASE("conv2d forward matches direct loops over a sweep of shapes", "[conv]") {
  kiln::Generator gen(42);
  for (DType t : {DType::F32, DType::F64}) {
    for (const ConvCase& c : sweep(12, 7)) {
      INFO(dtype_s(t) << " " << c.str());
      Tensor x = random_input(c.x, t, -2, 2, &gen), w = random_input(c.w, t, -1, 1, &gen);
      Tensor b = random_input({c.w[0]}, t, -1, 1, &gen);
      Tensor y = F::conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
      check_vs_reference(y, rtol_for(t) * 10, atol_for(t) * 10);
      double tol = t == DType::F64 ? 1e-12 : 2e-5;
      check_values(y, direct_conv(x, w, b, c), tol, tol);
    }
  }
}

TEST_CASE("conv2d + bias + relu runs as one GEMM kernel and writes no im2col buffer",
          "[conv][fusion]") {
  Tensor x = random_input({2, 16, 20, 20}, DType::F32),
         w = random_input({16, 16, 3, 3}, DType::F32);
  Tensor b = random_input({16}, DType::F32);
  Tensor y = F::conv2d(x, w, b, 1, 1).relu();
  int64_t before = kiln::stats().kernels_launched;
  y.realize();
  CHECK(kiln::stats().kernels_launched - before == 1);
  // The program's own buffers are its output only: an im2col matrix would be 9x the input.
  int64_t out_bytes = 2 * 16 * 20 * 20 * 4, im2col_bytes = 2 * 16 * 9 * 20 * 20 * 4;
  CHECK(kiln::stats().last_program_peak_bytes == out_bytes);
  CHECK(kiln::stats().last_program_peak_bytes < im2col_bytes);
  check_vs_reference(y, 1e-5, 1e-5);
}

TEST_CASE("conv2d gradients of input and weight match the interpreter", "[conv][autodiff]") {
  kiln::Generator gen(5);
  auto cases = sweep(5, 11);
  cases.push_back({{2, 8, 12, 12}, {8, 8, 3, 3}, 1, 1});
  for (DType t : {DType::F64, DType::F32}) {
    for (const ConvCase& c : cases) {
      INFO(dtype_s(t) << " " << c.str());
      Tensor x = random_input(c.x, t, -2, 2, &gen), w = random_input(c.w, t, -1, 1, &gen);
      Tensor b = random_input({c.w[0]}, t, -1, 1, &gen);
      x.requires_grad_();
      w.requires_grad_();
      b.requires_grad_();
      Tensor y = F::conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
      // A weight per output element, so that every one matters (and relu's mask does too).
      Tensor weight = random_input(y.shape(), t, 0.5, 1.5, &gen);
      Tensor loss = (y.relu() * weight).sum();
      auto g = kiln::autograd::grad({loss}, {x, w, b});
      double tol = t == DType::F64 ? 1e-11 : 1e-4;
      if (t == DType::F64) { // linear in each: the gradient of sum(y * weight) by direct loops
        auto lin = kiln::autograd::grad({(y * weight).sum()}, {x, w});
        auto [dx, dw] = direct_conv_grads(x, w, weight, c);
        check_values(lin[0], dx, 1e-10, 1e-10);
        check_values(lin[1], dw, 1e-10, 1e-10);
      }
      for (size_t i = 0; i < g.size(); ++i) {
        INFO("gradient " << i);
        REQUIRE(g[i].shape() == std::vector<Tensor>{x, w, b}[i].shape());
        check_vs_reference(g[i], tol, tol);
        CHECK(g[i].abs().max().item<double>() > 0); // never all zero
      }
    }
  }
}
