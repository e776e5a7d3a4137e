// kiln::nn layers: forward values against naive loops and the reference interpreter, and
// gradients against finite differences (f64), for conv, pooling, normalization, dropout and
// embedding.
#include "conv_reference.h"
#include "grad_check.h"

#include <limits>

using namespace kt;
namespace F = kiln::nn::functional;
using kiln::nn::Size2;

namespace {

enum class PoolKind { Max, AvgWithPad, AvgNoPad };

std::vector<double> naive_pool(const Tensor& x, PoolKind kind, Size2 k, Size2 s, Size2 p, Size2 d,
                               Shape& out) {
  auto xv = x.to_vector<double>();
  int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  int64_t OH = (H + 2 * p.h - d.h * (k.h - 1) - 1) / s.h + 1;
  int64_t OW = (W + 2 * p.w - d.w * (k.w - 1) - 1) / s.w + 1;
  out = {N, C, OH, OW};
  std::vector<double> y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        double m = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t count = 0;
        for (int64_t a = 0; a < k.h; ++a)
          for (int64_t b = 0; b < k.w; ++b) {
            int64_t h = i * s.h - p.h + a * d.h, w = j * s.w - p.w + b * d.w;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            double v = xv[(nc * H + h) * W + w];
            m = std::max(m, v);
            sum += v;
            ++count;
          }
        if (kind == PoolKind::Max)
          y.push_back(m);
        else if (kind == PoolKind::AvgWithPad)
          y.push_back(sum / static_cast<double>(k.h * k.w));
        else
          y.push_back(sum / static_cast<double>(count));
      }
  return y;
}

std::vector<double> naive_adaptive(const Tensor& x, int64_t OH, int64_t OW) {
  auto xv = x.to_vector<double>();
  int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  std::vector<double> y;
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
        int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
        double s = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) s += xv[(nc * H + h) * W + w];
        y.push_back(s / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
  return y;
}

Tensor randf64(const Shape& s, uint64_t seed) {
  kiln::Generator g(seed);
  return random_input(s, DType::F64, -2, 2, &g);
}

} // namespace

TEST_CASE("conv2d matches a direct convolution", "[nn][conv]") {
  struct Case {
    Shape x, w;
    ConvGeometry c;
    bool bias;
  };
  std::vector<Case> cases = {
      {{2, 3, 7, 6}, {4, 3, 3, 3}, {}, true},
      {{2, 3, 7, 6}, {4, 3, 3, 3}, {.padding = 1}, false},
      {{1, 2, 9, 8}, {3, 2, 3, 2}, {.stride = {2, 3}, .padding = {1, 2}}, true},
      {{2, 2, 9, 9}, {2, 2, 3, 3}, {.padding = 2, .dilation = 2}, true},
      {{1, 4, 6, 7}, {6, 2, 2, 3}, {.stride = 2, .padding = {0, 1}, .groups = 2}, true},
      {{1, 4, 5, 5}, {4, 1, 3, 3}, {.padding = 1, .groups = 4}, false}, // depthwise
      {{2, 3, 4, 4}, {5, 3, 1, 1}, {}, true},                           // pointwise
      {{1, 2, 8, 8}, {3, 2, 2, 2}, {.stride = 2}, true},                // patchify
  };
  uint64_t seed = 10;
  for (auto& k : cases) {
    INFO("x " << shape_s(k.x) << " w " << shape_s(k.w) << " groups " << k.c.groups);
    Tensor x = randf64(k.x, seed++), w = randf64(k.w, seed++);
    Tensor b = k.bias ? randf64({k.w[0]}, seed++) : Tensor();
    auto expect = direct_conv(x, w, b, k.c);
    Tensor y = F::conv2d(x, w, b, k.c.stride, k.c.padding, k.c.dilation, k.c.groups);
    REQUIRE(y.shape() == conv_out_shape(k.x, k.w, k.c));
    check_vs_reference(y, 1e-12, 1e-12);
    check_values(y, expect, 1e-12, 1e-12);
  }
}

TEST_CASE("conv2d in f32, unbatched, and as a layer", "[nn][conv]") {
  Tensor x = random_input({3, 10, 10}, DType::F32);
  kiln::nn::Conv2d conv(3, 8, 3, {.padding = 1});
  Tensor y = conv(x);
  REQUIRE(y.shape() == Shape{8, 10, 10});
  auto expect = direct_conv(x.unsqueeze(0), conv.weight, conv.bias, {.padding = 1});
  check_values(y, expect, 1e-4, 1e-5);
  auto params = conv.named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "weight");
  CHECK(params[0].second.shape() == Shape{8, 3, 3, 3});
  CHECK(params[1].first == "bias");
  // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 3.
  double bound = 1 / std::sqrt(27.0);
  for (double v : conv.weight.to_vector<double>()) CHECK(std::abs(v) <= bound);
  CHECK(conv.weight.abs().max().item<double>() > 0.8 * bound);
  kiln::nn::Conv2d nobias(4, 4, {1, 3}, {.groups = 2, .bias = false});
  CHECK(nobias.named_parameters().size() == 1);
  CHECK(nobias.weight.shape() == Shape{4, 2, 1, 3});
}

TEST_CASE("conv2d runs as one matmul kernel", "[nn][conv][fusion]") {
  // The matmul packs its operand from the padded input's windows (no im2col copy); bias and relu
  // run in its epilogue.
  Tensor x = random_input({2, 3, 8, 8}, DType::F32), w = random_input({4, 3, 3, 3}, DType::F32);
  Tensor b = random_input({4}, DType::F32);
  Tensor y = F::conv2d(x, w, b, 1, 1).relu();
  int64_t before = kiln::stats().kernels_launched;
  y.realize();
  CHECK(kiln::stats().kernels_launched - before == 1);
}

TEST_CASE("conv2d gradients", "[nn][conv][autodiff]") {
  auto conv = [](ConvGeometry c, bool bias) {
    return [c, bias](const std::vector<Tensor>& in) {
      return F::conv2d(in[0], in[1], bias ? in[2] : Tensor(), c.stride, c.padding, c.dilation,
                       c.groups);
    };
  };
  check_grad(conv({.padding = 1}, true), {{2, 2, 5, 4}, {3, 2, 3, 3}, {3}});
  check_grad(conv({.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}, .groups = 2}, false),
             {{1, 4, 6, 5}, {2, 2, 2, 2}});
  check_grad(conv({.stride = 2}, true), {{1, 1, 6, 6}, {2, 1, 2, 2}, {2}});
}

TEST_CASE("conv2d errors name shapes", "[nn][conv][errors]") {
  Tensor x = kiln::zeros({1, 3, 8, 8}), w = kiln::zeros({4, 2, 3, 3});
  CHECK_THROWS_WITH(F::conv2d(x, w), Catch::Contains("[conv2d]") && Catch::Contains("3 channels") &&
                                         Catch::Contains("f32[4, 2, 3, 3]"));
  CHECK_THROWS_WITH(F::conv2d(x, kiln::zeros({4, 3, 9, 9})), Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(F::conv2d(x, kiln::zeros({4, 1, 3, 3}), Tensor(), 1, 0, 1, 2),
                    Catch::Contains("groups 2"));
  CHECK_THROWS_WITH(F::conv2d(x, kiln::zeros({4, 3, 3, 3}), kiln::zeros({3})),
                    Catch::Contains("bias"));
  CHECK_THROWS_WITH(F::conv2d(kiln::zeros({3, 8}), w), Catch::Contains("[N, C, H, W]"));
  CHECK_THROWS_AS(kiln::nn::Conv2d(3, 4, 3, {.groups = 2}), kiln::Error);
}

TEST_CASE("pooling matches naive loops", "[nn][pool]") {
  struct Case {
    Shape x;
    Size2 k, s, p, d;
  };
  std::vector<Case> cases = {
      {{2, 3, 8, 8}, 2, 2, 0, 1},
      {{1, 2, 7, 9}, 3, 2, 1, 1},
      {{1, 2, 9, 7}, {3, 2}, {1, 2}, {1, 0}, 1},
      {{1, 1, 10, 10}, 3, 1, 1, 2},
      {{2, 1, 7, 7}, 2, 2, 0, 1}, // odd extent: the last row and column are dropped
  };
  uint64_t seed = 40;
  for (auto& c : cases) {
    INFO("x " << shape_s(c.x) << " kernel " << c.k.h << "x" << c.k.w << " stride " << c.s.h << ","
              << c.s.w << " pad " << c.p.h << "," << c.p.w << " dilation " << c.d.h);
    Tensor x = randf64(c.x, seed++);
    Shape out;
    auto mx = naive_pool(x, PoolKind::Max, c.k, c.s, c.p, c.d, out);
    Tensor y = F::max_pool2d(x, c.k, c.s, c.p, c.d);
    REQUIRE(y.shape() == out);
    check_values(y, mx, 1e-12, 1e-12);
    if (c.d.h != 1) continue;
    auto avg = naive_pool(x, PoolKind::AvgWithPad, c.k, c.s, c.p, 1, out);
    check_values(F::avg_pool2d(x, c.k, c.s, c.p), avg, 1e-12, 1e-12);
    auto avg_nopad = naive_pool(x, PoolKind::AvgNoPad, c.k, c.s, c.p, 1, out);
    Tensor z = F::avg_pool2d(x, c.k, c.s, c.p, false);
    check_vs_reference(z, 1e-12, 1e-12);
    check_values(z, avg_nopad, 1e-12, 1e-12);
  }
}

TEST_CASE("adaptive average pooling, equal and unequal bins", "[nn][pool]") {
  Tensor x = randf64({2, 3, 5, 7}, 50);
  for (auto [oh, ow] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 4}, {5, 7}, {2, 3}}) {
    INFO("output " << oh << "x" << ow);
    Tensor y = F::adaptive_avg_pool2d(x, {oh, ow});
    REQUIRE(y.shape() == Shape{2, 3, oh, ow});
    check_values(y, naive_adaptive(x, oh, ow), 1e-12, 1e-12);
  }
  Tensor e = randf64({1, 2, 8, 6}, 51); // 4 x 3 bins of 2 x 2: the average-pool path
  check_values(kiln::nn::AdaptiveAvgPool2d({4, 3})(e), naive_adaptive(e, 4, 3), 1e-12, 1e-12);
  CHECK(kiln::nn::AdaptiveAvgPool2d(1)(random_input({3, 4, 4}, DType::F32)).shape() ==
        Shape{3, 1, 1});
}

TEST_CASE("pooling gradients", "[nn][pool][autodiff]") {
  check_grad([](auto& in) { return F::max_pool2d(in[0], 2); }, {{1, 2, 4, 6}});
  check_grad([](auto& in) { return F::max_pool2d(in[0], 3, 2, 1); }, {{1, 2, 5, 6}});
  check_grad([](auto& in) { return F::max_pool2d(in[0], 2, 1, 0, 2); }, {{1, 1, 5, 5}});
  check_grad(
      [](auto& in) {
        return F::avg_pool2d(in[0], {2, 3}, 1, {1, 1}, false);
      },
      {{1, 2, 4, 5}});
  check_grad([](auto& in) { return F::avg_pool2d(in[0], 2); }, {{2, 1, 4, 4}});
  check_grad([](auto& in) { return F::adaptive_avg_pool2d(in[0], {2, 3}); }, {{1, 2, 5, 4}});
}

TEST_CASE("pooling errors", "[nn][pool][errors]") {
  Tensor x = kiln::zeros({1, 1, 4, 4});
  CHECK_THROWS_WITH(F::max_pool2d(x, 5),
                    Catch::Contains("[max_pool2d]") && Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(F::max_pool2d(x, 2, 2, 2), Catch::Contains("half the kernel"));
  CHECK_THROWS_WITH(F::avg_pool2d(kiln::zeros({4, 4}), 2), Catch::Contains("[avg_pool2d]"));
  CHECK_THROWS_WITH(F::adaptive_avg_pool2d(x, 0), Catch::Contains("output size"));
}

TEST_CASE("batch_norm in training and eval mode", "[nn][norm]") {
  // Two samples, two channels, 1 x 2 pixels: channel 0 holds {1, 2, 3, 6}, channel 1 {0, 0, 4, 4}.
  Tensor x = kiln::tensor<double>({1, 2, 0, 0, 3, 6, 4, 4}, Shape{2, 2, 1, 2});
  Tensor rm = kiln::zeros({2}, DType::F64), rv = kiln::ones({2}, DType::F64);
  Tensor w = kiln::tensor<double>({2, 1}), b = kiln::tensor<double>({0, 1});
  Tensor y = F::batch_norm(x, rm, rv, w, b, true, 0.1, 0);
  // Channel 0: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5; channel 1: mean 2, var 4.
  double s0 = 2 / std::sqrt(3.5);
  check_values(y, {-2 * s0, -1 * s0, -1 + 1, -1 + 1, 0, 3 * s0, 1 + 1, 1 + 1}, 1e-12, 1e-12);
  // Running: 0.9 * old + 0.1 * batch, the variance unbiased (x 4/3).
  check_values(rm, {0.3, 0.2}, 1e-12, 1e-12);
  check_values(rv, {0.9 + 0.1 * 3.5 * 4 / 3, 0.9 + 0.1 * 4 * 4 / 3}, 1e-12, 1e-12);
  // Eval: normalize with the running statistics.
  Tensor e = F::batch_norm(x, rm, rv, w, b, false, 0.1, 0);
  double v0 = 0.9 + 0.1 * 3.5 * 4 / 3;
  CHECK(e.to_vector<double>()[0] == Approx(2 * (1 - 0.3) / std::sqrt(v0)).epsilon(1e-12));
  CHECK_THROWS_WITH(F::batch_norm(x, kiln::zeros({3}), kiln::ones({3})),
                    Catch::Contains("running_mean") && Catch::Contains("[2]"));
  CHECK_THROWS_WITH(
      F::batch_norm(kiln::zeros({1, 2, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
      Catch::Contains("more than 1 value per channel"));
}

TEST_CASE("batch_norm gradients", "[nn][norm][autodiff]") {
  check_grad([](auto& in) { return F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true); },
             {{3, 2, 2, 2}, {2}, {2}});
  check_grad(
      [](auto& in) { return F::batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
      {{4, 3}});
}

TEST_CASE("BatchNorm2d: buffers, momentum, train and eval", "[nn][norm]") {
  kiln::nn::BatchNorm2d bn(3);
  auto buffers = bn.named_buffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].first == "running_mean");
  CHECK(buffers[1].first == "running_var");
  CHECK(buffers[2].first == "num_batches_tracked");
  CHECK(bn.named_parameters().size() == 2);
  kiln::Generator g(3);
  std::vector<Tensor> batches;
  for (int i = 0; i < 3; ++i) batches.push_back(random_input({4, 3, 2, 2}, DType::F32, 0, 4, &g));
  std::vector<double> mean(3, 0.0), var(3, 1.0);
  for (auto& xb : batches) {
    Tensor y = bn(xb);
    y.realize();
    auto xv = xb.to_vector<double>();
    for (int c = 0; c < 3; ++c) {
      double s = 0, ss = 0;
      for (int n = 0; n < 4; ++n)
        for (int p = 0; p < 4; ++p) s += xv[(n * 3 + c) * 4 + p];
      double mu = s / 16;
      for (int n = 0; n < 4; ++n)
        for (int p = 0; p < 4; ++p) ss += std::pow(xv[(n * 3 + c) * 4 + p] - mu, 2);
      mean[c] = 0.9 * mean[c] + 0.1 * mu;
      var[c] = 0.9 * var[c] + 0.1 * ss / 15;
    }
  }
  check_values(bn.running_mean, mean, 1e-5, 1e-6);
  check_values(bn.running_var, var, 1e-5, 1e-6);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 3);
  // The next forward starts from plain buffers again (the graph does not grow step by step).
  bn.eval();
  Tensor y = bn(batches[0]);
  CHECK(bn.running_mean.is_realized());
  CHECK(bn.running_mean.node()->inputs.empty());
  auto xv = batches[0].to_vector<double>();
  auto yv = y.to_vector<double>();
  CHECK(yv[5] == Approx((xv[5] - mean[1]) / std::sqrt(var[1] + 1e-5)).epsilon(1e-5));
  CHECK(bn.num_batches_tracked.item<int64_t>() == 3); // eval does not count

  // momentum none: a cumulative average of the batch means.
  kiln::nn::BatchNorm2d cum(1, {.momentum = std::nullopt, .affine = false});
  CHECK(cum.named_parameters().empty());
  cum(kiln::full({2, 1, 1, 1}, 2.0)).realize();
  cum(kiln::full({2, 1, 1, 1}, 4.0)).realize();
  cum(kiln::full({2, 1, 1, 1}, 9.0)).realize();
  cum.eval();
  cum(kiln::full({2, 1, 1, 1}, 0.0)).realize();
  check_values(cum.running_mean, {5.0}, 1e-6, 1e-6);
}

TEST_CASE("LayerNorm layer", "[nn][norm]") {
  kiln::nn::LayerNorm ln({4});
  Tensor x = kiln::tensor<float>({1, 2, 3, 6, 0, 0, 0, 4}, Shape{2, 4});
  // Row 0: mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5.
  double s = 1 / std::sqrt(3.5 + 1e-5), t = 1 / std::sqrt(3 + 1e-5);
  check_values(ln(x), {-2 * s, -s, 0, 3 * s, -t, -t, -t, 3 * t}, 1e-5, 1e-6);
  CHECK(ln.named_parameters().size() == 2);
  CHECK(kiln::nn::LayerNorm({4}, 1e-5, false).named_parameters().empty());
  check_grad([](auto& in) { return F::layer_norm(in[0], {3}, in[1], in[2]); }, {{2, 3}, {3}, {3}});
}

TEST_CASE("Dropout: seeded masks, scaling, eval identity", "[nn][dropout]") {
  kiln::nn::Dropout a(0.25, 7), b(0.25, 7);
  Tensor x = kiln::ones({4000});
  auto ya = a(x).to_vector<float>(), yb = b(x).to_vector<float>();
  CHECK(ya == yb); // same seed, same mask
  int64_t zeros = 0;
  for (float v : ya) {
    CHECK((v == 0.0f || v == Approx(1 / 0.75)));
    zeros += v == 0.0f;
  }
  CHECK(zeros > 850);
  CHECK(zeros < 1150);
  CHECK(a(x).to_vector<float>() != ya); // the next draw differs
  a.eval();
  CHECK(a(x).same(x));
  CHECK_THROWS_WITH(kiln::nn::Dropout(1.0), Catch::Contains("[Dropout]"));
  // The gradient flows through kept elements only, scaled.
  kiln::nn::Dropout d(0.5, 3);
  Tensor p = kiln::ones({64}).realize().detach();
  p.requires_grad_();
  Tensor y = d(p);
  y.sum().backward();
  auto yv = y.to_vector<float>(), gv = p.grad().to_vector<float>();
  for (size_t i = 0; i < yv.size(); ++i) CHECK(gv[i] == yv[i]);
}

TEST_CASE("Embedding: rows, gradients, padding_idx", "[nn][embedding]") {
  Tensor w = kiln::tensor<double>({0, 1, 10, 11, 20, 21}, Shape{3, 2}).requires_grad_();
  Tensor idx = kiln::tensor<int64_t>({2, 0, 2, 1}, Shape{2, 2});
  Tensor y = F::embedding(idx, w);
  REQUIRE(y.shape() == Shape{2, 2, 2});
  check_values(y, {20, 21, 0, 1, 20, 21, 10, 11});
  (y * kiln::tensor<double>({1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 2})).sum().backward();
  // Row 2 is picked twice: its gradient is the sum of both.
  check_values(w.grad(), {3, 4, 7, 8, 1 + 5, 2 + 6});
  w.zero_grad();
  F::embedding(idx, w, 2).sum().backward();
  check_values(w.grad(), {1, 1, 1, 1, 0, 0});

  kiln::nn::Embedding emb(5, 3, 0);
  CHECK(emb.weight.shape() == Shape{5, 3});
  check_values(emb.weight.slice(0, 0, 1), {0, 0, 0});
  CHECK(emb(kiln::tensor<int32_t>({4, 0})).shape() == Shape{2, 3});
  CHECK_THROWS_WITH(F::embedding(kiln::zeros({2}), w), Catch::Contains("must be integers"));
  CHECK_THROWS_WITH(F::embedding(idx, w, 3), Catch::Contains("padding_idx 3"));
}

TEST_CASE("init: gains and fans like PyTorch", "[nn][init]") {
  namespace I = kiln::nn::init;
  CHECK(I::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(I::calculate_gain("tanh") == Approx(5.0 / 3));
  CHECK(I::calculate_gain("conv2d") == 1.0);
  CHECK(I::calculate_gain("leaky_relu", 0.2) == Approx(std::sqrt(2 / 1.04)));
  CHECK_THROWS_WITH(I::calculate_gain("swish"), Catch::Contains("unknown nonlinearity"));
  CHECK(I::fans({16, 3, 5, 5}) == std::pair<int64_t, int64_t>{75, 400});
  CHECK(I::fans({10, 20}) == std::pair<int64_t, int64_t>{20, 10});
  CHECK_THROWS_AS(I::fans({3}), kiln::Error);
  Tensor k = I::kaiming_uniform({64, 32}, 32);
  CHECK(k.abs().max().item<double>() <= std::sqrt(2.0) * std::sqrt(3.0 / 32));
}
