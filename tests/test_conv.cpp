// conv2d as an implicit GEMM (the packed GEMM reads the padded input's windows while packing):
// forward against direct loops and the reference interpreter over a seeded sweep of odd shapes,
// strides, paddings, dilations and groups in f32 and f64; both backward convolutions (the input's
// gradient is itself a convolution, frontend/nn/conv.cpp) against direct loops and the
// interpreter; and that a 3x3 convolution writes no im2col buffer.
#include "conv_reference.h"

#include <random>

using namespace kt;
namespace F = kiln::nn::functional;
using kiln::nn::Size2;

namespace {

struct ConvCase {
  Shape x, w;
  ConvGeometry g;
  std::string str() const {
    return fmt::format("x {} w {} stride ({}, {}) padding ({}, {}) dilation ({}, {}) groups {}",
                       shape_s(x), shape_s(w), g.stride.h, g.stride.w, g.padding.h, g.padding.w,
                       g.dilation.h, g.dilation.w, g.groups);
  }
};

// Odd shapes whose products are large enough for the packed GEMM (at least 4 output channels
// per group and 8 output pixels), with edges in every direction of its tiles.
std::vector<ConvCase> sweep(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<ConvCase> cases;
  while (static_cast<int>(cases.size()) < count) {
    ConvCase c;
    c.g.groups = pick(1, 3);
    int64_t cg = pick(1, 7), og = pick(4, 19), kh = pick(1, 4), kw = pick(1, 4);
    c.g.stride = {pick(1, 3), pick(1, 2)};
    c.g.dilation = {pick(1, 2), pick(1, 3)};
    c.g.padding = {pick(0, 2), pick(0, 3)};
    c.x = {pick(1, 3), cg * c.g.groups, pick(5, 19), pick(5, 23)};
    c.w = {og * c.g.groups, cg, kh, kw};
    Shape y = conv_out_shape(c.x, c.w, c.g);
    if (y[2] < 1 || y[3] < 1 || y[2] * y[3] < 8) continue;
    cases.push_back(c);
  }
  // K past one KC block of the GEMM (several passes over K) and a 3x3 "same" convolution.
  cases.push_back({{2, 40, 11, 13}, {12, 40, 3, 3}, {1, 1, 1, 1}});
  cases.push_back({{1, 24, 9, 30}, {21, 8, 3, 3}, {{2, 1}, {1, 2}, {1, 2}, 3}});
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
      Tensor y = F::conv2d(x, w, b, c.g.stride, c.g.padding, c.g.dilation, c.g.groups);
      check_vs_reference(y, rtol_for(t) * 10, atol_for(t) * 10);
      double tol = t == DType::F64 ? 1e-12 : 2e-5;
      check_values(y, direct_conv(x, w, b, c.g), tol, tol);
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
  cases.push_back({{2, 8, 12, 12}, {8, 8, 3, 3}, {1, 1}});
  for (DType t : {DType::F64, DType::F32}) {
    for (const ConvCase& c : cases) {
      INFO(dtype_s(t) << " " << c.str());
      Tensor x = random_input(c.x, t, -2, 2, &gen), w = random_input(c.w, t, -1, 1, &gen);
      Tensor b = random_input({c.w[0]}, t, -1, 1, &gen);
      x.requires_grad_();
      w.requires_grad_();
      b.requires_grad_();
      Tensor y = F::conv2d(x, w, b, c.g.stride, c.g.padding, c.g.dilation, c.g.groups);
      // A weight per output element, so that every one matters (and relu's mask does too).
      Tensor weight = random_input(y.shape(), t, 0.5, 1.5, &gen);
      Tensor loss = (y.relu() * weight).sum();
      auto g = kiln::autograd::grad({loss}, {x, w, b});
      double tol = t == DType::F64 ? 1e-11 : 1e-4;
      if (t == DType::F64) { // linear in each: the gradient of sum(y * weight) by direct loops
        auto lin = kiln::autograd::grad({(y * weight).sum()}, {x, w});
        auto [dx, dw] = direct_conv_grads(x, w, weight, c.g);
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
