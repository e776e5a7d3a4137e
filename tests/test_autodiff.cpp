// Gradients (the autodiff graph pass) against central finite differences in f64.
#include "grad_check.h"

using namespace kt;

TEST_CASE("unary gradients", "[autodiff]") {
  std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops = {
      {"neg", [](const Tensor& x) { return -x; }},
      {"abs", [](const Tensor& x) { return x.abs(); }},
      {"exp", [](const Tensor& x) { return x.exp(); }},
      {"sin", [](const Tensor& x) { return x.sin(); }},
      {"cos", [](const Tensor& x) { return x.cos(); }},
      {"tanh", [](const Tensor& x) { return x.tanh(); }},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }},
      {"erf", [](const Tensor& x) { return x.erf(); }},
      {"expm1", [](const Tensor& x) { return x.expm1(); }},
      {"relu", [](const Tensor& x) { return x.relu(); }},
      {"gelu", [](const Tensor& x) { return x.gelu(); }},
      {"gelu_tanh", [](const Tensor& x) { return x.gelu("tanh"); }},
      {"silu", [](const Tensor& x) { return x.silu(); }},
      {"softplus", [](const Tensor& x) { return x.softplus(); }},
      {"clamp", [](const Tensor& x) { return kiln::clamp(x, -0.5, 0.7); }},
  };
  for (auto& [name, op] : ops) {
    INFO(name);
    check_grad([&](auto& in) { return op(in[0]); }, {{3, 4}});
  }
  // Ops defined on positive inputs.
  std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> positive = {
      {"log", [](const Tensor& x) { return x.log(); }},
      {"log1p", [](const Tensor& x) { return x.log1p(); }},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }},
      {"rsqrt", [](const Tensor& x) { return x.rsqrt(); }},
      {"reciprocal", [](const Tensor& x) { return x.reciprocal(); }},
  };
  for (auto& [name, op] : positive) {
    INFO(name);
    check_grad([&](auto& in) { return op(in[0]); }, {{3, 4}}, 0.5, 3);
  }
}

TEST_CASE("binary gradients with broadcasting", "[autodiff]") {
  check_grad([](auto& in) { return in[0] + in[1]; }, {{3, 4}, {4}});
  check_grad([](auto& in) { return in[0] - in[1]; }, {{3, 1}, {1, 4}});
  check_grad([](auto& in) { return in[0] * in[1]; }, {{2, 3, 4}, {3, 1}});
  check_grad([](auto& in) { return in[0] / in[1]; }, {{3, 4}, {4}}, 0.5, 2);
  check_grad([](auto& in) { return kiln::pow(in[0], in[1]); }, {{3, 4}, {3, 4}}, 0.5, 2);
  check_grad([](auto& in) { return kiln::pow(in[0], 3); }, {{5}});
  check_grad([](auto& in) { return kiln::maximum(in[0], in[1]); }, {{3, 4}, {3, 4}});
  check_grad([](auto& in) { return kiln::minimum(in[0], in[1]); }, {{3, 4}, {4}});
  check_grad([](auto& in) { return kiln::fmod(in[0], in[1]); }, {{6}, {6}}, 0.7, 3);
  check_grad([](auto& in) { return kiln::where(in[0] > 0, in[0] * 2, in[1]); }, {{3, 4}, {3, 4}});
  check_grad([](auto& in) { return in[0] * 2.5 + 1; }, {{3}});
}

TEST_CASE("maximum ties split the gradient like PyTorch", "[autodiff]") {
  Tensor a = kiln::tensor<double>({1.0, 2.0, 3.0}).requires_grad_();
  Tensor b = kiln::tensor<double>({1.0, 5.0, 0.0}).requires_grad_();
  kiln::maximum(a, b).sum().backward();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0.5, 0.0, 1.0});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{0.5, 1.0, 0.0});
}

TEST_CASE("reduction gradients", "[autodiff]") {
  check_grad([](auto& in) { return in[0].sum({1}); }, {{3, 4}});
  check_grad([](auto& in) { return in[0].mean({0, 2}, true); }, {{2, 3, 4}});
  check_grad([](auto& in) { return in[0].max({-1}); }, {{3, 5}});
  check_grad([](auto& in) { return in[0].min(); }, {{3, 5}});
  check_grad([](auto& in) { return in[0].prod({1}); }, {{3, 4}}, 0.5, 1.5);
  check_grad([](auto& in) { return in[0].sum(); }, {{2, 3}});
}

TEST_CASE("view and movement gradients", "[autodiff]") {
  check_grad([](auto& in) { return in[0].reshape({4, 3}).transpose(0, 1); }, {{2, 6}});
  check_grad([](auto& in) { return in[0].permute({2, 0, 1}); }, {{2, 3, 4}});
  check_grad([](auto& in) { return in[0].expand({3, 4}); }, {{1, 4}});
  check_grad([](auto& in) { return in[0].slice(1, 1, 7, 2); }, {{3, 8}});
  check_grad([](auto& in) { return in[0].slice(0, std::nullopt, std::nullopt, -2); }, {{7}});
  check_grad([](auto& in) { return in[0].slice(1, -2, std::nullopt, 3); }, {{2, 7}});
  check_grad([](auto& in) { return kiln::pad(in[0], {1, 2, 0, 1}, 3.0); }, {{2, 3}});
  check_grad([](auto& in) { return kiln::cat({in[0], in[1]}, 1); }, {{2, 3}, {2, 2}});
  check_grad([](auto& in) { return kiln::stack({in[0], in[1]}, 0); }, {{3}, {3}});
  check_grad([](auto& in) { return in[0].squeeze().unsqueeze(0).flatten(); }, {{1, 3, 1, 2}});
}

TEST_CASE("matmul gradients", "[autodiff]") {
  check_grad([](auto& in) { return kiln::matmul(in[0], in[1]); }, {{3, 4}, {4, 2}});
  check_grad([](auto& in) { return kiln::matmul(in[0], in[1]); }, {{2, 3, 4}, {4, 5}});
  check_grad([](auto& in) { return kiln::matmul(in[0], in[1]); }, {{4}, {4}});
  check_grad([](auto& in) { return kiln::matmul(in[0], in[1]); }, {{2, 1, 3, 4}, {3, 4, 2}});
  check_grad([](auto& in) { return kiln::matmul(in[0].transpose(0, 1), in[1]); }, {{4, 3}, {4, 2}});
}

TEST_CASE("casts pass gradients through", "[autodiff]") {
  // Finite differences through f32 rounding are noise: check the exact identity instead.
  Tensor x = kiln::tensor<double>({0.5, -1.5, 2.25}).requires_grad_();
  (x.to(DType::F32).to(DType::F64) * kiln::tensor<double>({1.0, 2.0, 3.0})).sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0, 2.0, 3.0});
  CHECK(x.grad().dtype() == DType::F64);
}

TEST_CASE("composite: softmax, layernorm, log-softmax", "[autodiff]") {
  check_grad(
      [](auto& in) {
        auto e = (in[0] - in[0].max({-1}, true)).exp();
        return e / e.sum({-1}, true);
      },
      {{3, 5}});
  check_grad(
      [](auto& in) {
        auto mu = in[0].mean({-1}, true);
        auto d = in[0] - mu;
        return d * ((d * d).mean({-1}, true) + 1e-5).rsqrt() * in[1] + in[2];
      },
      {{3, 6}, {6}, {6}});
}

TEST_CASE("second derivatives (grad of grad)", "[autodiff]") {
  Tensor x = kiln::tensor<double>({0.3, -1.2, 2.0}).requires_grad_();
  (x * x * x).sum().backward(); // dx = 3x^2
  Tensor g = x.grad();
  x.zero_grad();
  g.sum().backward(); // d/dx sum(3x^2) = 6x
  auto got = x.grad().to_vector<double>();
  CHECK(got[0] == Approx(1.8));
  CHECK(got[1] == Approx(-7.2));
  CHECK(got[2] == Approx(12.0));
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[autodiff]") {
  Tensor x = kiln::tensor<double>({1.0, 2.0}).requires_grad_();
  (x * 3).sum().backward();
  (x * x).sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5.0, 7.0});
  x.zero_grad();
  CHECK(!x.grad().defined());
  (x * 2).sum().backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2.0, 2.0});
}

TEST_CASE("detach, NoGradGuard and backward with a given gradient", "[autodiff]") {
  Tensor x = kiln::tensor<double>({1.0, 2.0, 3.0}).requires_grad_();
  Tensor y = x * x.detach();
  y.backward(kiln::tensor<double>({1.0, 1.0, 2.0}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1.0, 2.0, 6.0});
  {
    kiln::NoGradGuard guard;
    CHECK(!(x * 2).requires_grad());
  }
  CHECK((x * 2).requires_grad());
}

TEST_CASE("a parameter updated by hand under NoGradGuard stays a leaf", "[autodiff]") {
  // PyTorch's `with no_grad(): w -= lr * w.grad`: w keeps requiring grad and keeps training.
  Tensor w = kiln::tensor<double>({0.0, 4.0}).requires_grad_();
  Tensor b = kiln::tensor<double>({0.0}).requires_grad_();
  for (int step = 0; step < 3; ++step) {
    (((w - 3) * (w - 3)).sum() + ((b - 1) * (b - 1)).sum()).backward();
    {
      kiln::NoGradGuard guard;
      w.assign(w - w.grad() * 0.25);
      b.assign(b - b.grad() * 0.25);
    }
    CHECK(w.requires_grad());
    w.zero_grad();
    b.zero_grad();
  }
  // Each step halves the distance to the minimum: 3 - 3/8, 3 + 1/8; 1 - 1/8.
  CHECK(w.to_vector<double>() == std::vector<double>{2.625, 3.125});
  CHECK(b.to_vector<double>() == std::vector<double>{0.875});
  REQUIRE_THROWS_WITH(w.assign(w * 2),
                      Catch::Contains("[assign]") && Catch::Contains("computed with gradients"));
}

TEST_CASE("backward lets go of the graph: a held loss keeps no activations",
          "[autodiff][lifetime]") {
  Tensor w = kiln::tensor<double>({1.0, 2.0}).requires_grad_();
  Tensor x = kiln::tensor<double>({3.0, 4.0});
  Tensor loss = (w * x).sum();
  loss.backward();
  kiln::realize({loss, w.grad()});
  CHECK(loss.node()->inputs.empty()); // realized after backward: w * x is not kept
  CHECK(w.grad().to_vector<double>() == std::vector<double>{3.0, 4.0});
  // Its graph is gone: differentiating through it again is an error, not a zero gradient.
  REQUIRE_THROWS_WITH(loss.backward(),
                      Catch::Contains("[backward]") && Catch::Contains("already ran from f64[]"));
  Tensor total = loss * 2;
  REQUIRE_THROWS_WITH(total.backward(), Catch::Contains("already ran"));
  // Realized before backward (its item() printed first): it lets go at backward(), once its
  // gradients are built: they still reach w (2 w added to the 3, 4 above).
  Tensor loss2 = (w * w).sum();
  CHECK(loss2.item<double>() == 5.0);
  CHECK(!loss2.node()->inputs.empty());
  loss2.backward();
  CHECK(loss2.node()->inputs.empty());
  CHECK(w.grad().to_vector<double>() == std::vector<double>{5.0, 8.0});
}

TEST_CASE("backward errors", "[autodiff][errors]") {
  Tensor x = kiln::tensor<double>({1.0, 2.0}).requires_grad_();
  REQUIRE_THROWS_WITH((x * 2).backward(),
                      Catch::Contains("[backward]") && Catch::Contains("not a scalar"));
  REQUIRE_THROWS_WITH(kiln::tensor<double>({1.0}).backward(),
                      Catch::Contains("does not require grad"));
  REQUIRE_THROWS_WITH(x.argmax().to(DType::F64).backward(),
                      Catch::Contains("does not require grad"));
  REQUIRE_THROWS_WITH(kiln::tensor<int32_t>({1}).requires_grad_(),
                      Catch::Contains("floating point"));
  REQUIRE_THROWS_WITH((x * 2).sum().backward(kiln::tensor<double>({1.0, 2.0})),
                      Catch::Contains("does not match"));
}

TEST_CASE("a training step compiles once", "[autodiff][cache]") {
  kiln::manual_seed(3);
  Tensor w = kiln::randn({8, 4}).requires_grad_(), xin = kiln::randn({16, 8}),
         target = kiln::randn({16, 4});
  int64_t compiled = 0;
  for (int step = 0; step < 10; ++step) {
    if (step == 2) compiled = kiln::stats().programs_compiled;
    Tensor loss = ((kiln::matmul(xin, w) - target) * (kiln::matmul(xin, w) - target)).mean();
    loss.backward();
    Tensor next;
    {
      kiln::NoGradGuard guard;
      next = w - w.grad() * (0.01 / (1 + step));
      kiln::realize({next, loss});
    }
    w.assign(next.detach());
    w.zero_grad();
  }
  CHECK(kiln::stats().programs_compiled == compiled);
}

// PyTorch's conventions where a function has a kink (passes/grad_rules.cpp lists them), with
// fusion on and off.
TEST_CASE("gradients at kinks follow PyTorch", "[autodiff][ieee]") {
  bool fusion = GENERATE(true, false);
  kiln::options().fusion = fusion;
  auto grad_of = [](std::vector<float> at, const std::function<Tensor(const Tensor&)>& f) {
    Tensor x = kiln::tensor(at).requires_grad_();
    f(x).sum().backward();
    return x.grad().to_vector<float>();
  };
  using V = std::vector<float>;
  const float inf = std::numeric_limits<float>::infinity();
  INFO("fusion " << fusion);
  CHECK(grad_of({-1, 0, 2}, [](const Tensor& x) { return x.relu(); }) == V{0, 0, 1});
  CHECK(grad_of({-1, 0, 0.5f, 1, 3}, [](const Tensor& x) { return kiln::clamp(x, 0, 1); }) ==
        V{0, 1, 1, 1, 0});
  CHECK(grad_of({-2, 0, 2}, [](const Tensor& x) { return x.abs(); }) == V{-1, 0, 1});
  CHECK(grad_of({0, 4}, [](const Tensor& x) { return x.sqrt(); }) == V{inf, 0.25f});
  // max/min reductions share the gradient evenly among tied maxima (torch.amax, x.max()).
  CHECK(grad_of({1, 3, 3}, [](const Tensor& x) { return x.max(); }) == V{0, 0.5f, 0.5f});
  // max_pool2d sends a window's gradient to its first maximum (max_pool2d_with_indices).
  CHECK(grad_of({1, 3, 3, 2, 0, 5, 5, 5, 1}, [](const Tensor& x) {
          return kiln::nn::functional::max_pool2d(x.reshape({1, 1, 3, 3}), {2, 2}, {{1, 1}});
        }) == V{0, 1, 0, 0, 0, 2, 1, 0, 0});
  // torch.maximum/minimum split it evenly on ties.
  CHECK(grad_of({1, 2}, [](const Tensor& x) { return kiln::maximum(x, 1); }) == V{0.5f, 1});
  // prod: at a zero, the product of the others; with two zeros, 0 everywhere.
  CHECK(grad_of({0, 2, 3}, [](const Tensor& x) { return x.prod(); }) == V{6, 0, 0});
  CHECK(grad_of({0, 2, 0}, [](const Tensor& x) { return x.prod(); }) == V{0, 0, 0});
  CHECK(grad_of({0, 2, 3, 4}, [](const Tensor& x) {
          return x.reshape({2, 2}).prod({1});
        }) == V{2, 0, 4, 3});
  // x^0 has gradient 0, at x = 0 too.
  CHECK(grad_of({0, 2}, [](const Tensor& x) { return kiln::pow(x, 0); }) == V{0, 0});
  // The forward values keep NaN, as PyTorch's relu and clamp do.
  Tensor nan = kiln::tensor({std::numeric_limits<float>::quiet_NaN()});
  CHECK(std::isnan(nan.relu().item<float>()));
  CHECK(std::isnan(kiln::clamp(nan, 0, 1).item<float>()));
  kiln::options().fusion = true;
}

TEST_CASE("1 / sqrt(y) and its specials agree fused and unfused", "[ieee]") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> y = {0, -0.f, inf, 4, 1e-40f};
  std::vector<float> want = {inf, -inf, 0, 0.5f, 1 / std::sqrt(1e-40f)};
  for (bool fusion : {true, false}) {
    kiln::options().fusion = fusion;
    INFO("fusion " << fusion);
    CHECK((1 / kiln::tensor(y).sqrt()).to_vector<float>() == want);
  }
  kiln::options().fusion = true;
}
