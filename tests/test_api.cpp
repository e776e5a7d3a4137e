// API a PyTorch user reaches for first: Python's % and //, autograd::grad, creation options,
// integer literals, and errors inside modules and kiln::io naming the caller's line.
#include "grad_check.h"

#include <kiln/io.h>

#include <limits>

using namespace kt;
using Catch::Contains;

namespace {
const char* const kFile = "test_api.cpp";
} // namespace

TEST_CASE("remainder has the sign of the divisor, like Python", "[api][remainder]") {
  Tensor a = kiln::tensor<float>({-7, 7, -7, 7, 6, -6, 0.5f});
  Tensor b = kiln::tensor<float>({3, -3, -3, 3, 3, 3, -2});
  check_values(kiln::remainder(a, b), {2, -2, -1, 1, 0, 0, -1.5});
  check_values(a % b, {2, -2, -1, 1, 0, 0, -1.5}); // % is remainder, as in PyTorch
  check_values(kiln::tensor<float>({5.5f, -5.5f}) % 2, {1.5, 0.5});
  check_values(-5.5 % kiln::tensor<float>({2, -2}), {0.5, -1.5});
  Tensor ai = kiln::tensor<int32_t>({-7, 7, -7, 7, 6});
  Tensor bi = kiln::tensor<int32_t>({3, -3, -3, 3, -3});
  Tensor ri = ai % bi;
  CHECK(ri.dtype() == DType::I32);
  check_values(ri, {2, -2, -1, 1, 0});
  check_close(ri, kiln::reference(ri));
  check_values(kiln::tensor<int64_t>({-1, 9}) % 4, {3, 1});
  // fmod stays C's fmod.
  check_values(kiln::fmod(kiln::tensor<float>({-7, 7}), 3), {-1, 1});
  SECTION("gradient") {
    check_grad([](auto& in) { return kiln::remainder(in[0], in[1]); }, {{6}, {6}}, 0.7, 3);
  }
  SECTION("errors name the op and the caller") {
    REQUIRE_THROWS_WITH(kiln::remainder(kiln::ones({2}), kiln::ones({3})),
                        Contains("[remainder]") && Contains(kFile));
  }
}

TEST_CASE("floor_divide rounds toward -inf, like Python's //", "[api][floor_divide]") {
  Tensor a = kiln::tensor<float>({-7, 7, -7, 7, 6, 1, -0.5f});
  Tensor b = kiln::tensor<float>({3, -3, -3, 3, 3, 0.1f, 2});
  check_values(kiln::floor_divide(a, b), {-3, -3, 2, 2, 2, 9, -1}); // 1 // 0.1 == 9 in Python
  float inf = std::numeric_limits<float>::infinity();
  check_values(kiln::floor_divide(kiln::tensor<float>({1, -1}), 0), {inf, -inf});
  Tensor ai = kiln::tensor<int64_t>({-7, 7, -7, 7, 6, 5});
  Tensor bi = kiln::tensor<int64_t>({3, -3, -3, 3, 3, 2});
  Tensor qi = kiln::floor_divide(ai, bi);
  CHECK(qi.dtype() == DType::I64);
  check_values(qi, {-3, -3, 2, 2, 2, 2});
  check_close(qi, kiln::reference(qi));
  // Integer division by zero raises, like PyTorch.
  CHECK_THROWS_AS(kiln::floor_divide(ai, kiln::tensor<int64_t>({1, 1, 1, 1, 1, 0})), kiln::Error);
  CHECK_THROWS_AS(kiln::remainder(ai, 0), kiln::Error);
  CHECK_THROWS_AS(ai % kiln::tensor<int64_t>({0}), kiln::Error);
  Tensor q32 = kiln::floor_divide(kiln::tensor<int32_t>({-1, 9}), 4);
  CHECK(q32.dtype() == DType::I32);
  check_values(q32, {-1, 2});
  SECTION("i64 beyond 2^53 divides exactly") {
    int64_t big = (int64_t{1} << 60) + 7;
    Tensor q = kiln::floor_divide(kiln::tensor<int64_t>({big, -big}), 3);
    auto got = q.to_vector<int64_t>();
    CHECK(got[0] == big / 3);
    CHECK(got[1] == -big / 3 - 1);
    auto r = (kiln::tensor<int64_t>({big, -big}) % 3).to_vector<int64_t>();
    CHECK(r == std::vector<int64_t>{big % 3, 3 - big % 3});
  }
  SECTION("a // b * b + a % b == a") {
    kiln::manual_seed(11);
    Tensor x = random_input({64}, DType::F64, -50, 50), y = random_input({64}, DType::F64, 0.5, 7);
    Tensor back = kiln::floor_divide(x, y) * y + x % y;
    check_close(back, x, 1e-12, 1e-12);
  }
}

TEST_CASE("autograd::grad returns gradients without touching grad()", "[api][autograd]") {
  Tensor x = kiln::tensor<double>({0.5, -1.0, 2.0}).requires_grad_();
  Tensor w = kiln::tensor<double>({3.0, 1.0, -2.0}).requires_grad_();
  Tensor y = (x * x * w).sum();
  auto g = kiln::autograd::grad({y}, {x, w});
  REQUIRE(g.size() == 2);
  check_values(g[0], {3.0, -2.0, -8.0}); // 2 x w
  check_values(g[1], {0.25, 1.0, 4.0});  // x^2
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(g[0].requires_grad());

  SECTION("several outputs with grad_outputs, an intermediate as input") {
    Tensor h = x * 2;
    Tensor a = h.exp(), b = h * h;
    auto gh = kiln::autograd::grad({a, b}, {h},
                                   {kiln::ones({3}, DType::F64), kiln::full({3}, 2.0, DType::F64)});
    auto hv = h.to_vector<double>();
    auto got = gh[0].to_vector<double>();
    for (size_t i = 0; i < 3; ++i)
      CHECK(values_close(got[i], std::exp(hv[i]) + 4 * hv[i], 1e-12, 0));
  }
  SECTION("create_graph gives a second derivative") {
    Tensor c = (x * x * x).sum();
    Tensor dx = kiln::autograd::grad({c}, {x}, {}, true)[0];
    CHECK(dx.requires_grad());
    check_values(dx, {0.75, 3.0, 12.0});
    check_values(kiln::autograd::grad({dx.sum()}, {x})[0], {3.0, -6.0, 12.0});
  }
  SECTION("unused inputs") {
    Tensor u = kiln::tensor<double>({1.0}).requires_grad_();
    REQUIRE_THROWS_WITH(kiln::autograd::grad({y}, {u}),
                        Contains("[grad]") && Contains("allow_unused") && Contains(kFile));
    auto gu = kiln::autograd::grad({y}, {x, u}, {}, false, true);
    CHECK(gu[0].defined());
    CHECK_FALSE(gu[1].defined());
  }
  SECTION("errors") {
    REQUIRE_THROWS_WITH(kiln::autograd::grad({x * w}, {x}),
                        Contains("not a scalar") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::autograd::grad({y}, {kiln::ones({2})}),
                        Contains("does not require grad") && Contains(kFile));
  }
}

TEST_CASE("creation options and integer literals", "[api][creation]") {
  Tensor z = kiln::zeros({2, 3}, {.dtype = DType::F64, .requires_grad = true});
  CHECK(z.dtype() == DType::F64);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.requires_grad());
  (z * 2).sum().backward();
  check_values(z.grad(), {2, 2, 2, 2, 2, 2});
  CHECK(kiln::ones({2}, {.dtype = DType::I32}).dtype() == DType::I32);
  CHECK_FALSE(kiln::ones({2}, {.dtype = DType::F32}).requires_grad());
  check_values(kiln::full({2}, 1.5, {.requires_grad = true}), {1.5, 1.5});
  CHECK(kiln::randn({2}, {.dtype = DType::F64, .requires_grad = true}).requires_grad());
  CHECK(kiln::rand({2}, {.dtype = DType::F64}).dtype() == DType::F64);
  // The positional forms still resolve.
  CHECK(kiln::zeros({2}).dtype() == DType::F32);
  CHECK(kiln::zeros({2}, DType::F32).dtype() == DType::F32);
  CHECK(kiln::zeros({2}, DType::I64).dtype() == DType::I64);
  REQUIRE_THROWS_WITH(kiln::zeros({2}, {.dtype = DType::I64, .requires_grad = true}),
                      Contains("floating point") && Contains(kFile));

  Tensor i = kiln::tensor({1, 2, 3});
  CHECK(i.dtype() == DType::I64);
  check_values(i, {1, 2, 3});
  Tensor m = kiln::tensor({{1, 2}, {3, 4}});
  CHECK(m.dtype() == DType::I64);
  CHECK(m.shape() == Shape{2, 2});
  CHECK(kiln::tensor<int32_t>({1, 2}).dtype() == DType::I32);
  CHECK(kiln::tensor({1.5f}).dtype() == DType::F32);
}

TEST_CASE("item and to_vector convert like a C++ cast where it is defined", "[api][errors]") {
  CHECK(kiln::tensor({3.7f}).item<int64_t>() == 3);
  CHECK(kiln::tensor({-0.5f, 255.9f}).to_vector<uint8_t>() == std::vector<uint8_t>{0, 255});
  CHECK(kiln::tensor({-2147483648.0}).item<int32_t>() == INT32_MIN);
  CHECK(kiln::tensor({2.5f}).item<bool>());
  // NaN, infinities and values the integer type cannot hold were undefined casts (a NaN loss
  // read as an i64 was -9223372036854775808): errors, as LibTorch's item<T>() raises.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(error_of([&] { kiln::tensor({nan}).item<int64_t>(); }),
             Contains("[item]") && Contains("nan") && Contains("i64") && Contains(kFile));
  CHECK_THAT(error_of([] { kiln::tensor({1e20f}).item<int32_t>(); }),
             Contains("[item]") && Contains("i32"));
  CHECK_THAT(error_of([] {
               kiln::tensor({1.f, -1.f}).to_vector<uint8_t>();
             }),
             Contains("[to_vector]") && Contains("position 1") && Contains("u8"));
  CHECK_THAT(error_of([] { kiln::tensor({9.3e18}).to_vector<int64_t>(); }),
             Contains("[to_vector]"));
}

TEST_CASE("tensor() takes every natural literal type and nesting", "[api][creation]") {
  // Before: tensor({1LL << 40}) did not link (no tensor<long long>) and tensor({{0}}) was
  // ambiguous.
  Tensor big = kiln::tensor({1LL << 40, -3LL});
  CHECK(big.dtype() == DType::I64);
  CHECK(big.to_vector<int64_t>() == std::vector<int64_t>{1LL << 40, -3});
  Tensor one = kiln::tensor({{0}});
  CHECK(one.shape() == Shape{1, 1});
  CHECK(one.dtype() == DType::I64);
  CHECK(kiln::tensor({{0}, {5}}).shape() == Shape{2, 1});
  CHECK(kiln::tensor({1L, 2L}).dtype() == DType::I64);
  Tensor u = kiln::tensor({3u, 4u});
  CHECK(u.dtype() == DType::I64);
  CHECK(u.to_vector<int64_t>() == std::vector<int64_t>{3, 4});
  CHECK(kiln::tensor({1.5, 2.}).dtype() == DType::F64);
  CHECK(kiln::tensor({true, false}).to_vector<bool>() == std::vector<bool>{true, false});
  Tensor cube = kiln::tensor({{{1.f, 2.f}}, {{3.f, 4.f}}});
  CHECK(cube.shape() == Shape{2, 1, 2});
  check_values(cube, {1, 2, 3, 4});
  CHECK(kiln::tensor(7).shape() == Shape{});
  CHECK(kiln::tensor(7).item<int64_t>() == 7);
  Tensor empty = kiln::tensor({});
  CHECK(empty.shape() == Shape{0});
  CHECK(empty.dtype() == DType::F32);
  // Mixed kinds promote like PyTorch's: an integer beside a float gives the float's dtype.
  Tensor mixed = kiln::tensor({{1, 2.5f}});
  CHECK(mixed.dtype() == DType::F32);
  check_values(mixed, {1, 2.5});
  // Explicit element types keep their dtype.
  CHECK(kiln::tensor<int32_t>({{1, -2}, {3, 4}}).dtype() == DType::I32);
  CHECK(kiln::tensor<float>({1.5f, 2}).dtype() == DType::F32);
  CHECK_THAT(error_of([] {
               kiln::tensor({{1, 2}, {3}});
             }),
             Contains("[tensor]") && Contains("ragged") && Contains(kFile));
  CHECK_THAT(error_of([] { kiln::tensor({~0ULL}); }),
             Contains("18446744073709551615") && Contains("i64"));
}

namespace {
// A user module in the style that predates the caller's location: it overrides forward(x).
struct Twice : kiln::nn::Module {
  Tensor forward(const Tensor& x) override { return x * 2; }
};
struct Nothing : kiln::nn::Module {};
} // namespace

TEST_CASE("errors inside modules name the caller's line", "[api][nn][errors]") {
  kiln::nn::Linear fc(3, 4);
  Tensor bad = kiln::ones({2, 5});
  REQUIRE_THROWS_AS(fc(bad), kiln::Error);
  REQUIRE_THROWS_WITH(fc(bad), Contains("[linear]") && Contains(kFile) && !Contains("layers.cpp") &&
                                   !Contains("functional.cpp"));
  REQUIRE_THROWS_WITH(fc.forward(bad), Contains(kFile) && !Contains("layers.cpp"));
  kiln::nn::Sequential seq{std::make_shared<kiln::nn::ReLU>(),
                           std::make_shared<kiln::nn::Linear>(3, 4)};
  REQUIRE_THROWS_WITH(seq(bad), Contains(kFile) && !Contains("layers.cpp") &&
                                    Contains("(in Sequential layer 1)"));
  kiln::nn::BatchNorm2d bn(3);
  REQUIRE_THROWS_WITH(bn(bad), Contains("[BatchNorm2d]") && Contains(kFile));
  kiln::nn::Conv2d conv(3, 2, 3);
  REQUIRE_THROWS_WITH(conv(kiln::ones({1, 4, 5, 5})), Contains(kFile) && !Contains("conv.cpp"));
  kiln::nn::Softmax sm(3);
  REQUIRE_THROWS_WITH(sm(bad), Contains(kFile) && !Contains("layers.h"));

  // Modules that override forward(x) keep working, through operator() and Sequential.
  Twice twice;
  check_values(twice(kiln::tensor<float>({1, 2})), {2, 4});
  kiln::nn::Sequential chain{std::make_shared<Twice>(), std::make_shared<Twice>()};
  check_values(chain(kiln::tensor<float>({1, 2})), {4, 8});
  Nothing nothing;
  REQUIRE_THROWS_WITH(nothing(bad), Contains("not overridden"));
}

TEST_CASE("kiln::io errors name the caller's line", "[api][io][errors]") {
  REQUIRE_THROWS_WITH(kiln::io::load_npy("/nonexistent/x.npy"),
                      Contains("[load_npy]") && Contains(kFile));
  REQUIRE_THROWS_WITH(kiln::io::load_safetensors("/nonexistent/x.safetensors"),
                      Contains("[load_safetensors]") && Contains(kFile));
  REQUIRE_THROWS_WITH(kiln::io::save_npy("/nonexistent/dir/x.npy", kiln::ones({2})),
                      Contains("[save_npy]") && Contains(kFile));
  kiln::nn::Linear fc(3, 4);
  REQUIRE_THROWS_WITH(kiln::io::save_state(fc, "/nonexistent/dir/x.safetensors"),
                      Contains(kFile) && !Contains("io_state.cpp"));
  REQUIRE_THROWS_WITH(
      kiln::io::load_state(fc, kiln::nn::NamedTensors{{"weight", kiln::ones({4, 3})}}),
      Contains("[load_state]") && Contains("bias") && Contains(kFile));
}
