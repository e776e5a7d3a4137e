// Reductions: sum mean max min prod argmax argmin (and var std logsumexp all any) over axes,
// keepdim, dtypes, non-contiguous and empty inputs, against the reference interpreter and
// hand-computed values.
#include "test_util.h"

#include "grad_check.h"
#include "passes/pipeline.h"

#include <cmath>
#include <limits>

using namespace kt;
using kiln::Tensor;

namespace {

// f32 compiled sums may accumulate in f32; the interpreter accumulates in double.
constexpr double kSumRtol = 1e-4, kSumAtol = 1e-5;

double rtol_red(DType t) { return t == DType::F64 ? 1e-12 : kSumRtol; }
double atol_red(DType t) { return t == DType::F64 ? 1e-12 : kSumAtol; }

const std::vector<std::vector<int64_t>>& axis_sets() {
  static const std::vector<std::vector<int64_t>> v{{},   {0},    {1},     {2},    {-1},
                                                   {-2}, {0, 2}, {-1, 0}, {1, 2}, {0, 1, 2}};
  return v;
}

std::string axes_s(const std::vector<int64_t>& axes) {
  std::string s = "{";
  for (int64_t a : axes) s += std::to_string(a) + ",";
  return s + "}";
}

} // namespace

TEST_CASE("sum max min prod mean over axes match the reference", "[reduce]") {
  kiln::manual_seed(11);
  for (DType t : all_dtypes()) {
    // prod: values near 1 (floats) or small (ints) so products stay representable.
    Tensor x = random_input({3, 4, 5}, t, -3, 3);
    Tensor xp =
        kiln::is_float(t) ? random_input({3, 4, 5}, t, 0.5, 1.5) : small_ints({3, 4, 5}, t, -2, 3);
    for (const auto& axes : axis_sets()) {
      for (bool keep : {false, true}) {
        INFO("dtype " << dtype_s(t) << " axes " << axes_s(axes) << " keepdim " << keep);
        check_vs_reference(x.sum(axes, keep), rtol_red(t), atol_red(t));
        check_vs_reference(x.max(axes, keep), 0, 0);
        check_vs_reference(x.min(axes, keep), 0, 0);
        check_vs_reference(xp.prod(axes, keep), rtol_red(t), atol_red(t));
        if (kiln::is_float(t)) check_vs_reference(x.mean(axes, keep), rtol_red(t), atol_red(t));
      }
    }
  }
}

TEST_CASE("reduction result shapes and dtypes", "[reduce]") {
  Tensor x = kiln::ones({2, 3, 4});
  CHECK(x.sum().shape() == Shape{});
  CHECK(x.sum({}, true).shape() == Shape{1, 1, 1});
  CHECK(x.sum({1}).shape() == Shape{2, 4});
  CHECK(x.sum({1}, true).shape() == Shape{2, 1, 4});
  CHECK(x.sum({-1, 0}).shape() == Shape{3});
  CHECK(x.max({0, 2}, true).shape() == Shape{1, 3, 1});
  CHECK(x.argmax().shape() == Shape{});
  CHECK(x.argmax(std::nullopt, true).shape() == Shape{1, 1, 1});
  CHECK(x.argmax(1).shape() == Shape{2, 4});
  CHECK(x.argmin(-1, true).shape() == Shape{2, 3, 1});

  Tensor i = kiln::tensor<int32_t>({1, 2, 3});
  CHECK(i.sum().dtype() == DType::I64);
  CHECK(i.prod().dtype() == DType::I64);
  CHECK(i.max().dtype() == DType::I32);
  CHECK(i.min().dtype() == DType::I32);
  CHECK(i.argmax().dtype() == DType::I64);
  CHECK(kiln::tensor<bool>({true, true, false}).sum().dtype() == DType::I64);
  CHECK(kiln::tensor<uint8_t>({200, 100}).sum().dtype() == DType::I64);
  CHECK(kiln::tensor<double>({1.0}).mean().dtype() == DType::F64);
  CHECK(x.mean().dtype() == DType::F32);
}

TEST_CASE("reduction hand values", "[reduce]") {
  Tensor x = kiln::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  check_values(x.sum({0}), {5, 7, 9});
  check_values(x.sum({1}), {6, 15});
  check_values(x.sum({-1}, true), {6, 15});
  check_values(x.sum(), {21});
  CHECK(x.sum().item<float>() == 21.f);
  check_values(x.mean(), {3.5});
  check_values(x.mean({0}), {2.5, 3.5, 4.5});
  check_values(x.max(), {6});
  check_values(x.max({1}), {3, 6});
  check_values(x.min({0}), {1, 2, 3});
  check_values(x.prod(), {720});
  check_values(x.prod({1}), {6, 120});
  CHECK(x.argmax().item<int64_t>() == 5);
  CHECK(x.argmin().item<int64_t>() == 0);
  check_values(x.argmax(0), {1, 1, 1});
  check_values(x.argmin(1), {0, 0});

  // Integers: sums are i64 (no u8 overflow), bool sums count trues.
  CHECK(kiln::tensor<uint8_t>({200, 100, 50}).sum().item<int64_t>() == 350);
  CHECK(kiln::tensor<bool>({true, true, false, true}).sum().item<int64_t>() == 3);
  CHECK(kiln::tensor<int32_t>({-2, 3, 4}).prod().item<int64_t>() == -24);
  CHECK(kiln::tensor<int32_t>({2000000000, 2000000000}).sum().item<int64_t>() == 4000000000ll);
  CHECK(kiln::tensor<int32_t>({-7, 3, 9}).max().item<int32_t>() == 9);
  CHECK(kiln::tensor<int64_t>({-7, 3, 9}).min().item<int64_t>() == -7);
  CHECK(kiln::tensor<bool>({false, true}).max().item<bool>() == true);
  CHECK(kiln::tensor<bool>({false, true}).min().item<bool>() == false);
}

TEST_CASE("argmax and argmin match the reference", "[reduce][arg]") {
  kiln::manual_seed(12);
  for (DType t : all_dtypes()) {
    // Small integer values force many ties; the first index must win.
    Tensor x = small_ints({3, 4, 5}, t, -2, 3);
    Tensor xf = random_input({3, 4, 5}, t);
    for (std::optional<int64_t> axis :
         {std::optional<int64_t>{}, std::optional<int64_t>{0}, std::optional<int64_t>{1},
          std::optional<int64_t>{2}, std::optional<int64_t>{-1}}) {
      for (bool keep : {false, true}) {
        INFO("dtype " << dtype_s(t) << " axis " << (axis ? std::to_string(*axis) : "none")
                      << " keep " << keep);
        check_vs_reference(x.argmax(axis, keep));
        check_vs_reference(x.argmin(axis, keep));
        check_vs_reference(xf.argmax(axis, keep));
        check_vs_reference(xf.argmin(axis, keep));
      }
    }
  }
}

TEST_CASE("argmax ties take the first index", "[reduce][arg]") {
  CHECK(kiln::tensor({1.f, 3.f, 3.f, 2.f}).argmax().item<int64_t>() == 1);
  CHECK(kiln::tensor({4.f, 1.f, 3.f, 1.f}).argmin().item<int64_t>() == 1);
  CHECK(kiln::tensor<int32_t>({5, 5, 5}).argmax().item<int64_t>() == 0);
  CHECK(kiln::tensor<int32_t>({5, 5, 5}).argmin().item<int64_t>() == 0);
  CHECK(kiln::tensor<bool>({false, true, true}).argmax().item<int64_t>() == 1);
  Tensor m = kiln::tensor({{2.f, 7.f, 7.f}, {9.f, 9.f, 1.f}, {0.f, 0.f, 0.f}});
  check_values(m.argmax(1), {1, 0, 0});
  check_values(m.argmax(0), {1, 1, 0});
  check_values(m.argmin(1), {0, 2, 0});
  CHECK(m.argmax().item<int64_t>() == 3); // flattened
  check_values(m.argmax(1, true), {1, 0, 0});
  CHECK(m.argmax(1, true).shape() == Shape{3, 1});
}

TEST_CASE("NaN in reductions", "[reduce]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = kiln::tensor({1.f, nan, 3.f});
  CHECK(std::isnan(x.max().item<float>()));
  CHECK(std::isnan(x.min().item<float>()));
  CHECK(std::isnan(x.sum().item<float>()));
  // Like PyTorch: the NaN is both the argmax and the argmin.
  CHECK(x.argmax().item<int64_t>() == 1);
  CHECK(x.argmin().item<int64_t>() == 1);
  check_vs_reference(x.max());
  check_vs_reference(x.argmax());
  check_vs_reference(x.argmin());
}

TEST_CASE("reductions of non-contiguous inputs", "[reduce][views]") {
  kiln::manual_seed(13);
  Tensor x = random_input({4, 6, 5}, DType::F32);
  SECTION("transposed") {
    Tensor t = x.transpose(0, 2); // [5, 6, 4]
    for (const auto& axes : axis_sets()) {
      INFO("axes " << axes_s(axes));
      check_vs_reference(t.sum(axes), kSumRtol, kSumAtol);
      check_vs_reference(t.max(axes, true), 0, 0);
    }
    check_vs_reference(t.argmax(1));
    check_vs_reference(x.permute({2, 0, 1}).argmin(-1));
  }
  SECTION("sliced with steps and negative steps") {
    Tensor s = x.slice(1, 1, std::nullopt, 2).slice(2, std::nullopt, std::nullopt, -1); // [4, 3, 5]
    for (const auto& axes : axis_sets()) {
      INFO("axes " << axes_s(axes));
      check_vs_reference(s.sum(axes), kSumRtol, kSumAtol);
      check_vs_reference(s.min(axes), 0, 0);
      check_vs_reference(s.mean(axes, true), kSumRtol, kSumAtol);
    }
    check_vs_reference(s.argmax(2));
    check_vs_reference(s.argmax());
  }
  SECTION("expanded") {
    Tensor e = random_input({4, 1, 5}, DType::F32).expand({4, 6, 5});
    for (const auto& axes : axis_sets()) {
      INFO("axes " << axes_s(axes));
      check_vs_reference(e.sum(axes), kSumRtol, kSumAtol);
      check_vs_reference(e.prod(axes), kSumRtol, kSumAtol);
    }
    check_vs_reference(e.argmax(1)); // all ties: 0
    check_values(e.argmax(1), std::vector<double>(20, 0));
  }
  SECTION("padded and reshaped") {
    Tensor p = kiln::pad(x, {1, 2, 0, 1}, -1.0).reshape({4, -1});
    check_vs_reference(p.sum({1}), kSumRtol, kSumAtol);
    check_vs_reference(p.max({0}), 0, 0);
  }
}

TEST_CASE("reductions of computed inputs and chains", "[reduce]") {
  kiln::manual_seed(14);
  Tensor x = random_input({5, 7}, DType::F32);
  check_vs_reference((x * 2 + 1).sum({1}), kSumRtol, kSumAtol);
  check_vs_reference(x.exp().sum({0}, true), kSumRtol, kSumAtol);
  check_vs_reference(x.sum({1}).sum({0}), kSumRtol, kSumAtol);
  check_vs_reference(x.max({1}).min(), 0, 0);
  // softmax and variance: reductions feeding elementwise ops that broadcast back.
  Tensor e = (x - x.max({1}, true)).exp();
  Tensor sm = e / e.sum({1}, true);
  check_vs_reference(sm, kSumRtol, kSumAtol);
  std::vector<float> rows = sm.sum({1}).to_vector<float>();
  for (float r : rows) CHECK(r == Approx(1.0).epsilon(1e-5));
  Tensor var = kiln::pow(x - x.mean({0}, true), 2).mean({0});
  check_vs_reference(var, kSumRtol, kSumAtol);
  check_vs_reference(x.argmax(1, true) + x.argmin(0, true));
}

TEST_CASE("empty reductions", "[reduce]") {
  Tensor e = kiln::zeros({0, 3});
  Tensor s = e.sum({0});
  CHECK(s.shape() == Shape{3});
  check_values(s, {0, 0, 0});
  check_values(e.prod({0}), {1, 1, 1});
  check_values(e.sum(), {0});
  check_values(e.prod(), {1});
  CHECK(std::isnan(e.mean().item<float>())); // 0/0 as in PyTorch
  CHECK(e.sum({1}).shape() == Shape{0});
  CHECK(e.sum({1}).to_vector<float>().empty());
  CHECK(e.max({1}).shape() == Shape{0}); // reducing a non-empty axis of an empty tensor is fine
  check_vs_reference(e.sum({0}));
  check_vs_reference(e.prod({0}, true));
  CHECK(kiln::zeros({0}, DType::I32).sum().item<int64_t>() == 0);
  CHECK(kiln::zeros({0}, DType::I32).prod().item<int64_t>() == 1);
  CHECK(kiln::zeros({2, 0, 3}).sum({1}).shape() == Shape{2, 3});
  check_values(kiln::zeros({2, 0, 3}).sum({1}), std::vector<double>(6, 0));
  check_values(kiln::zeros({2, 0, 3}).prod({1}), std::vector<double>(6, 1));
  // Over a trailing 0-size axis of a leaf or constant.
  check_values(kiln::zeros({3, 0}).sum({1}), {0, 0, 0});
  check_values(kiln::zeros({3, 0}).prod({1}), {1, 1, 1});
  check_values(random_input({2, 3, 0}, DType::F32).sum({-1}), std::vector<double>(6, 0));
  // Over nothing at all: no kernel reads the empty buffer (the interp backend checks every load).
  check_values(random_input({0, 3}, DType::F32).sum({1}).sum(), {0});
  check_values(random_input({0}, DType::F64).prod(), {1});
  check_values(kiln::matmul(random_input({2, 0}, DType::F32), random_input({0, 3}, DType::F32)),
               std::vector<double>(6, 0));
}

// Hidden (run with "[crash]"): a reduction of a computed input with a non-leading 0-size dim dies
// with SIGFPE in lowering (see the elementwise crash test), aborting the whole run.
TEST_CASE("empty reduction of a computed input with a trailing 0-size axis", "[regression]") {
  Tensor x = random_input({3, 0}, DType::F32);
  check_values((x * 2).sum({1}), {0, 0, 0});
  check_values((x + 1).prod({1}), {1, 1, 1});
  // An i32 input is first cast to i64: the cast kernel crashes the same way.
  check_values(random_input({3, 0}, DType::I32).prod({1}), {1, 1, 1});
}

TEST_CASE("reductions of 0-d tensors", "[reduce]") {
  Tensor z = kiln::scalar_tensor(3.0);
  CHECK(z.sum().item<float>() == 3.f);
  CHECK(z.sum({0}).item<float>() == 3.f);
  CHECK(z.max({-1}).item<float>() == 3.f);
  CHECK(z.mean().item<float>() == 3.f);
  CHECK(z.argmax(0).item<int64_t>() == 0);
  CHECK(z.sum({}, true).shape() == Shape{});
  CHECK(z.argmax().shape() == Shape{});
}

// Reductions whose reduced extent is 1 (these once segfaulted in LLVM emission).
TEST_CASE("reductions over a size-1 extent", "[reduce]") {
  kiln::manual_seed(16);
  Tensor x = random_input({3, 1}, DType::F32);
  check_vs_reference(x.sum({1}));
  check_vs_reference(x.max({1}, true));
  check_vs_reference(x.argmax(1));
  check_vs_reference(random_input({1, 3}, DType::F32).argmin(0));
  check_vs_reference((x * 2).sum({-1}));
  CHECK(kiln::tensor({5.f}).sum().item<float>() == 5.f);
  CHECK(kiln::tensor<float>({5.f}, Shape{1, 1}).prod().item<float>() == 5.f);
  CHECK(kiln::scalar_tensor(3.0).argmax().item<int64_t>() == 0);
  CHECK(kiln::tensor({5.f}).argmax().item<int64_t>() == 0);
}

// Two chained reductions that each reduce only size-1 axes (a work-in-progress fusion scheduler
// once rejected these with "sum would run inside another stage's loop").
TEST_CASE("chained reductions over size-1 axes", "[reduce]") {
  auto attempt = [](const Tensor& t) {
    INFO("shape " << shape_s(t.shape()));
    try {
      check_vs_reference(t, 1e-5, 1e-5);
    } catch (const std::exception& e) {
      FAIL_CHECK("exception: " << e.what());
    }
  };
  attempt(kiln::tensor({0.5f}).sum({0}, true).sum({0}, true));
  attempt(kiln::tensor({0.5f}).min({0}, true).prod({0}));
  attempt(kiln::tensor<float>({1, 2, 3, 4}, Shape{4, 1}).sum({1}, true).exp().sum({1}));
  attempt(kiln::tensor<float>({1, 2, 3, 4}, Shape{4, 1}).max({1}, true).mean({1}, true));
}

// Bug: reducing a 1-element tensor, reshaping the 0-d result to [1] and reducing again fails at
// realize with an internal error ("sum would run inside another stage's loop").
TEST_CASE("reduce then reshape to [1] then reduce again", "[reduce]") {
  auto attempt = [](const Tensor& t, double expected) {
    try {
      check_values(t, {expected});
    } catch (const std::exception& e) {
      FAIL_CHECK("exception: " << e.what());
    }
  };
  Tensor l = kiln::tensor({0.5f});
  attempt(l.sum({0}).reshape({1}).sum({0}), 0.5);
  attempt((l * 2).sum({0}).reshape({1}).sum({0}), 1.0);
  attempt(l.max().unsqueeze(0).sum(), 0.5);
  attempt(l.abs().max().unsqueeze(0).prod({}, true), 0.5);
}

TEST_CASE("larger reductions against the reference", "[reduce]") {
  kiln::manual_seed(15);
  Tensor x = random_input({64, 300}, DType::F32);
  check_vs_reference(x.sum({1}), kSumRtol, 1e-4);
  check_vs_reference(x.sum({0}), kSumRtol, 1e-4);
  check_vs_reference(x.sum(), kSumRtol, 1e-3);
  check_vs_reference(x.max(), 0, 0);
  check_vs_reference(x.argmax(), 0, 0);
  check_vs_reference(x.argmin(0), 0, 0);
  check_vs_reference(x.mean({0, 1}), kSumRtol, 1e-5);
  Tensor xi = random_input({64, 300}, DType::I32, -1000, 1000);
  check_vs_reference(xi.sum({1}));
  check_vs_reference(xi.sum());
  check_vs_reference(xi.max({0}));
  Tensor xd = random_input({64, 300}, DType::F64);
  check_vs_reference(xd.sum({1}), 1e-10, 1e-10);
  check_vs_reference(xd.sum(), 1e-10, 1e-10);
}

// Float sums against double precision: long reductions sum in blocks (passes/blocked_sums.h).
TEST_CASE("float sums are accurate at any length", "[reduce][accuracy]") {
  bool fusion = GENERATE(true, false);
  kiln::options().fusion = fusion;
  INFO("fusion " << fusion);
  const double tenth = static_cast<double>(0.1f);
  for (int64_t n : {1000LL, 4097LL, 100000LL, 10000000LL, 100000000LL}) {
    INFO("n = " << n);
    double got = kiln::full({n}, 0.1).sum().item<float>();
    CHECK(std::fabs(got - tenth * n) / (tenth * n) < 1e-6);
  }
  // Along an axis, leading or trailing, and a mean (before: 0.9% off at 3e7).
  Tensor rows = kiln::full({3, 3000001}, 0.1).sum({1});
  for (float v : rows.to_vector<float>())
    CHECK(std::fabs(v - tenth * 3000001) / (tenth * 3000001) < 1e-6);
  Tensor cols = kiln::full({3000001, 3}, 0.1).sum({0});
  for (float v : cols.to_vector<float>())
    CHECK(std::fabs(v - tenth * 3000001) / (tenth * 3000001) < 1e-6);
  double mean = kiln::full({30000000}, 0.1).mean().item<float>();
  CHECK(std::fabs(mean - tenth) / tenth < 1e-6);
  // Random values of both signs, against a double sum of the same floats.
  Tensor x = random_input({2000003}, DType::F32, -1, 3);
  std::vector<float> v = x.to_vector<float>();
  double want = 0;
  for (float f : v) want += f;
  CHECK(std::fabs(x.sum().item<float>() - want) / std::fabs(want) < 1e-6);
  kiln::options().fusion = true;
}

// Column sums (a tiled reduction: the reduced axis is not the contiguous one) add chunks of 64
// values, then the chunks' sums (before: one serial accumulator of 4096 values per column, 3e-6
// off, 50x the interpreter's error).
TEST_CASE("column sums are accurate", "[reduce][accuracy]") {
  kiln::manual_seed(21);
  Tensor x = random_input({4096, 48}, DType::F32, 0, 1);
  std::vector<float> v = x.to_vector<float>();
  std::vector<float> got = x.sum({0}).to_vector<float>();
  double worst = 0;
  for (int64_t j = 0; j < 48; ++j) {
    double want = 0;
    for (int64_t i = 0; i < 4096; ++i) want += v[i * 48 + j];
    worst = std::max(worst, std::fabs(got[j] - want) / want);
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 2.5e-7);
}

// A long max or min into few outputs is blocked like a long sum (passes/blocked_sums.h), so that
// it spreads over threads and GPU blocks: results exact, NaN wherever any block holds one.
TEST_CASE("long max and min into few outputs run in blocks", "[reduce]") {
  kiln::manual_seed(17);
  Tensor x = random_input({3, 7001}, DType::F32);
  auto kernels = [](const Tensor& t) {
    return kiln::run_pipeline({t.node().get()}, {}).kernels.size();
  };
  CHECK(kernels(x.max()) == 3); // [3, 7001] -> [3, 14] blocks of 512 -> [3] -> 1
  CHECK(kernels(x.max({1})) == 2);
  CHECK(kernels(kiln::randn({64, 5000}).max({1})) == 1); // enough outputs to spread already
  for (const Tensor& t : {x.max(), x.min(), x.max({1}), x.min({1}, true), (x * 2.0).max()})
    check_vs_reference(t, 0, 0);
  CHECK(x.max().item<float>() == kiln::reference(x.max()).item<float>());
  for (DType t : {DType::I32, DType::I64, DType::U8}) {
    INFO(kiln::dtype_name(t));
    Tensor xi = random_input({9000}, t, 0, 200);
    check_vs_reference(xi.max(), 0, 0);
    check_vs_reference(xi.min(), 0, 0);
  }
  Tensor b = random_input({9000}, DType::I32, 0, 2).to(DType::Bool);
  check_vs_reference(b.max(), 0, 0);
  check_vs_reference(b.min(), 0, 0);
  // One NaN in one block of the second row: that row's max and min, and the whole max, are NaN.
  std::vector<float> v = x.to_vector<float>();
  v[7001 + 3000] = std::numeric_limits<float>::quiet_NaN();
  Tensor y = kiln::tensor(v).reshape({3, 7001});
  std::vector<float> rows = y.max({1}).to_vector<float>();
  CHECK_FALSE(std::isnan(rows[0]));
  CHECK(std::isnan(rows[1]));
  CHECK(std::isnan(y.max().item<float>()));
  CHECK(std::isnan(y.min().item<float>()));
  check_vs_reference(y.min({1}), 0, 0);
}

// var, std, logsumexp, all and any: composites of the reductions above, against hand-computed
// values, double-precision loops and finite differences.
TEST_CASE("var and std, with and without Bessel's correction", "[reduce]") {
  Tensor x = kiln::tensor({1.0, 2.0, 3.0, 4.0});
  CHECK(x.var().item<double>() == Approx(5.0 / 3));
  CHECK(x.var({}, 0).item<double>() == Approx(1.25));
  CHECK(x.std().item<double>() == Approx(std::sqrt(5.0 / 3)));
  // Along an axis, keepdim, against a loop in double.
  Tensor m = random_input({5, 7}, DType::F64);
  std::vector<double> v = m.to_vector<double>();
  Tensor cols = m.var({0}, 1, true);
  CHECK(cols.shape() == kiln::Shape{1, 7});
  std::vector<double> got = cols.to_vector<double>();
  for (int j = 0; j < 7; ++j) {
    double mean = 0, ss = 0;
    for (int i = 0; i < 5; ++i) mean += v[i * 7 + j] / 5;
    for (int i = 0; i < 5; ++i) ss += (v[i * 7 + j] - mean) * (v[i * 7 + j] - mean);
    CHECK(got[j] == Approx(ss / 4).epsilon(1e-12));
  }
  // A large mean cancels before squaring: f32 values near 1e4 with unit spread.
  kiln::manual_seed(31);
  Tensor big = kiln::randn({100000}) + 10000.0f;
  std::vector<float> b = big.to_vector<float>();
  double mean = 0, ss = 0;
  for (float f : b) mean += f / b.size();
  for (float f : b) ss += (f - mean) * (f - mean);
  CHECK(big.var().item<float>() == Approx(ss / (b.size() - 1)).epsilon(1e-4));
  // One element, corrected: NaN, as in PyTorch.
  CHECK(std::isnan(kiln::tensor({3.0f}).var().item<float>()));
  CHECK(kiln::tensor({3.0f}).var({}, 0).item<float>() == 0);
  CHECK_THAT(kt::error_of([] {
               kiln::tensor({1, 2}).var();
             }),
             Catch::Contains("[var]") && Catch::Contains("floating point"));
  CHECK_THAT(kt::error_of([] {
               kiln::tensor({1.0, 2.0}).var({}, -1);
             }),
             Catch::Contains("[var]") && Catch::Contains("correction"));
  CHECK_THAT(kt::error_of([] { kiln::tensor({1.0, 2.0}).std({3}); }), Catch::Contains("[var]"));
  kt::check_grad([](const std::vector<Tensor>& in) { return in[0].var({1}); }, {{3, 6}});
  kt::check_grad([](const std::vector<Tensor>& in) { return in[0].std({0}, 0); }, {{4, 3}});
}

TEST_CASE("logsumexp does not overflow, and its gradient is softmax", "[reduce]") {
  Tensor x = kiln::tensor({{1.0, 2.0, 3.0}, {1000.0, 1000.0, -1000.0}});
  std::vector<double> got = x.logsumexp({1}).to_vector<double>();
  CHECK(got[0] == Approx(std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0))));
  CHECK(got[1] == Approx(1000 + std::log(2.0)));
  CHECK(x.logsumexp({1}, true).shape() == kiln::Shape{2, 1});
  CHECK(x.logsumexp().shape().empty());
  const float inf = std::numeric_limits<float>::infinity();
  Tensor edge = kiln::tensor({{-inf, -inf}, {inf, 1.0f}, {NAN, 1.0f}});
  std::vector<float> e = edge.logsumexp({1}).to_vector<float>();
  CHECK(e[0] == -inf);
  CHECK(e[1] == inf);
  CHECK(std::isnan(e[2]));
  kt::check_grad([](const std::vector<Tensor>& in) { return in[0].logsumexp({1}); }, {{3, 5}});
  kt::check_grad([](const std::vector<Tensor>& in) { return in[0].logsumexp(); }, {{2, 3}});
}

TEST_CASE("all and any, over axes and over no elements", "[reduce]") {
  Tensor x = kiln::tensor({{1, 0, 3}, {4, 5, 6}});
  CHECK(x.all().item<bool>() == false);
  CHECK(x.any().item<bool>() == true);
  CHECK(x.all({1}).to_vector<bool>() == std::vector<bool>{false, true});
  CHECK(x.any({0}, true).shape() == kiln::Shape{1, 3});
  CHECK(x.all({0}).dtype() == DType::Bool);
  CHECK(kiln::tensor({0.0f, -0.0f}).any().item<bool>() == false);
  CHECK(kiln::tensor({NAN}).all().item<bool>() == true); // NaN is nonzero, as in PyTorch
  Tensor empty = kiln::zeros({0, 3});
  CHECK(empty.all().item<bool>() == true);
  CHECK(empty.any().item<bool>() == false);
  CHECK((x > 0).all({1}).to_vector<bool>() == std::vector<bool>{false, true});
}
