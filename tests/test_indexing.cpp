// Indexing (masked_fill, gather, index_select, scatter_add) and max/min along an axis with
// indices: values against hand-computed results and the reference interpreter, gradients
// against finite differences, errors naming the caller.
#include "grad_check.h"

using namespace kt;
using Catch::Contains;

namespace {
const char* const kFile = "test_indexing.cpp";

Tensor x34() { return kiln::tensor<float>({{1, -2, 3, 4}, {5, 6, -7, 8}, {9, 10, 11, -12}}); }
} // namespace

TEST_CASE("masked_fill", "[indexing][masked_fill]") {
  Tensor x = x34();
  Tensor mask = kiln::tensor<bool>({true, false, false, true}); // broadcast over rows
  Tensor y = kiln::masked_fill(x, mask, -1.5);
  CHECK(y.dtype() == DType::F32);
  check_values(y, {-1.5, -2, 3, -1.5, -1.5, 6, -7, -1.5, -1.5, 10, 11, -1.5});
  check_close(y, kiln::reference(y));
  // Integer tensors keep their dtype.
  Tensor i = kiln::masked_fill(kiln::tensor<int32_t>({1, 2, 3}), kiln::tensor<bool>({0, 1, 0}), 7);
  CHECK(i.dtype() == DType::I32);
  check_values(i, {1, 7, 3});

  SECTION("the fill value is a kernel parameter") {
    kiln::masked_fill(x, mask, 2.0).realize();
    auto compiled = kiln::stats().kernels_compiled;
    check_values(kiln::masked_fill(x, mask, 3.25),
                 {3.25, -2, 3, 3.25, 3.25, 6, -7, 3.25, 3.25, 10, 11, 3.25});
    CHECK(kiln::stats().kernels_compiled == compiled);
  }
  SECTION("gradient flows where the mask is false") {
    check_grad([&](auto& in) { return kiln::masked_fill(in[0], mask, 0.5); }, {{3, 4}});
  }
  SECTION("errors") {
    REQUIRE_THROWS_WITH(kiln::masked_fill(x, kiln::tensor<float>({1, 0, 0, 1}), 0),
                        Contains("[masked_fill]") && Contains("must be bool") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::masked_fill(x, kiln::ones({2, 3, 4}, DType::Bool), 0),
                        Contains("[masked_fill]") && Contains("[2, 3, 4]") && Contains(kFile));
  }
}

TEST_CASE("gather has PyTorch semantics", "[indexing][gather]") {
  Tensor x = x34();
  // out[i][j] = x[i][index[i][j]]
  Tensor idx1 = kiln::tensor<int64_t>({{3, 0}, {1, 1}, {2, 0}});
  Tensor g1 = kiln::gather(x, 1, idx1);
  CHECK(g1.shape() == Shape{3, 2});
  check_values(g1, {4, 1, 6, 6, 11, 9});
  check_close(g1, kiln::reference(g1));
  // out[i][j] = x[index[i][j]][j]; index smaller than x on the other axis, i32 indices.
  Tensor idx0 = kiln::tensor<int32_t>({{2, 0, 1}});
  check_values(kiln::gather(x, 0, idx0), {9, -2, -7});
  check_values(kiln::gather(x, -2, idx0), {9, -2, -7});
  // Integer data keeps its dtype.
  Tensor xi = kiln::tensor<int32_t>({{10, 20}, {30, 40}});
  Tensor gi = kiln::gather(xi, 1, kiln::tensor<int64_t>({{1}, {0}}));
  CHECK(gi.dtype() == DType::I32);
  check_values(gi, {20, 30});
  // 3-D, middle axis.
  kiln::manual_seed(7);
  Tensor x3 = random_input({2, 3, 4}, DType::F32);
  Tensor i3 = kiln::randint(0, 3, {2, 5, 4});
  Tensor g3 = kiln::gather(x3, 1, i3);
  auto xv = x3.to_vector<float>();
  auto iv = i3.to_vector<int64_t>();
  std::vector<double> want;
  for (int a = 0; a < 2; ++a)
    for (int j = 0; j < 5; ++j)
      for (int k = 0; k < 4; ++k) want.push_back(xv[a * 12 + iv[a * 20 + j * 4 + k] * 4 + k]);
  check_values(g3, want);

  SECTION("gradient flows to x, summed over repeated indices") {
    check_grad([&](auto& in) { return kiln::gather(in[0], 1, idx1); }, {{3, 4}});
    Tensor p = kiln::tensor<double>({1.0, 2.0, 3.0}).requires_grad_();
    kiln::gather(p, 0, kiln::tensor<int64_t>({2, 2, 0})).sum().backward();
    CHECK(p.grad().to_vector<double>() == std::vector<double>{1, 0, 2});
  }
  SECTION("non-finite values elsewhere do not leak into the result") {
    float inf = std::numeric_limits<float>::infinity();
    check_values(kiln::gather(kiln::tensor<float>({inf, 2, NAN}), 0, kiln::tensor<int64_t>({1})),
                 {2});
  }
  SECTION("errors") {
    REQUIRE_THROWS_WITH(kiln::gather(x, 1, kiln::tensor<float>({{0}})),
                        Contains("[gather]") && Contains("i64 or i32") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::gather(x, 1, kiln::tensor<int64_t>({0})),
                        Contains("[gather]") && Contains("rank") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::gather(x, 1, kiln::zeros({4, 1}, DType::I64)),
                        Contains("[gather]") && Contains("axis 0") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::gather(x, 2, idx1), Contains("[gather]") && Contains(kFile));
  }
}

TEST_CASE("index_select", "[indexing][index_select]") {
  Tensor x = x34();
  Tensor rows = kiln::index_select(x, 0, kiln::tensor<int64_t>({2, 0, 2}));
  CHECK(rows.shape() == Shape{3, 4});
  check_values(rows, {9, 10, 11, -12, 1, -2, 3, 4, 9, 10, 11, -12});
  Tensor cols = kiln::index_select(x, -1, kiln::tensor<int32_t>({3, 1}));
  CHECK(cols.shape() == Shape{3, 2});
  check_values(cols, {4, -2, 8, 6, -12, 10});
  check_close(cols, kiln::reference(cols));
  check_grad(
      [](auto& in) {
        return kiln::index_select(in[0], 1, kiln::tensor<int64_t>({1, 1, 0}));
      },
      {{2, 3}});
  REQUIRE_THROWS_WITH(kiln::index_select(x, 0, kiln::tensor<int64_t>({{0}})),
                      Contains("[index_select]") && Contains("1-D") && Contains(kFile));
}

TEST_CASE("scatter_add has PyTorch semantics", "[indexing][scatter_add]") {
  // x[index[i][j]][j] += src[i][j] (axis 0); index smaller than src.
  Tensor x = kiln::tensor<float>({{1, 1, 1}, {2, 2, 2}});
  Tensor src = kiln::tensor<float>({{10, 20, 30}, {40, 50, 60}, {70, 80, 90}});
  Tensor index = kiln::tensor<int64_t>({{1, 0, 1}, {1, 1, 0}});
  Tensor y = kiln::scatter_add(x, 0, index, src);
  CHECK(y.shape() == Shape{2, 3});
  check_values(y, {1, 21, 61, 52, 52, 32});
  check_close(y, kiln::reference(y));
  // Axis 1, index narrower than x on axis 0: untouched rows stay.
  Tensor z = kiln::scatter_add(kiln::zeros({3, 4}), 1, kiln::tensor<int64_t>({{3, 3, 0}}),
                               kiln::tensor<float>({{1.5, 2, 4}}));
  check_values(z, {4, 0, 0, 3.5, 0, 0, 0, 0, 0, 0, 0, 0});
  // Integers.
  Tensor zi = kiln::scatter_add(kiln::tensor<int64_t>({1, 2}), 0, kiln::tensor<int64_t>({1, 1, 0}),
                                kiln::tensor<int64_t>({5, 6, 7}));
  CHECK(zi.dtype() == DType::I64);
  check_values(zi, {8, 13});

  SECTION("gradients flow to x and src") {
    check_grad([&](auto& in) { return kiln::scatter_add(in[0], 0, index, in[1]); },
               {{2, 3}, {3, 3}});
  }
  SECTION("errors") {
    REQUIRE_THROWS_WITH(kiln::scatter_add(x, 0, index, src.to(DType::F64)),
                        Contains("[scatter_add]") && Contains("dtype") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::scatter_add(x, 0, index, kiln::ones({1, 3})),
                        Contains("[scatter_add]") && Contains("src") && Contains(kFile));
  }
}

TEST_CASE("max and min along an axis give values and indices", "[indexing][reduce]") {
  Tensor x = kiln::tensor<float>({{3, 7, 7}, {-1, -5, 2}});
  auto [values, indices] = x.max(1);
  CHECK(values.shape() == Shape{2});
  check_values(values, {7, 2});
  CHECK(indices.dtype() == DType::I64);
  check_values(indices, {1, 2}); // the first of a tie
  auto [lo, at] = x.min(0, true);
  CHECK(lo.shape() == Shape{1, 3});
  check_values(lo, {-1, -5, 2});
  check_values(at, {1, 1, 1});
  auto [vneg, ineg] = x.max(-2);
  check_values(vneg, {3, 7, 7});
  check_values(ineg, {0, 0, 0});
  // The axes overloads are untouched: a braced axis still reduces to one tensor.
  Tensor m = x.max({1}, true);
  CHECK(m.shape() == Shape{2, 1});
  check_values(x.min({0, 1}), {-5});

  SECTION("the gradient goes to the element at the index") {
    Tensor p = kiln::tensor<double>({{3, 7, 7}, {-1, -5, 2}}).requires_grad_();
    std::get<0>(p.max(1)).sum().backward();
    CHECK(p.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 0, 0, 1});
    check_grad([](auto& in) { return std::get<0>(in[0].min(0)); }, {{3, 4}});
  }
  SECTION("errors name the caller") {
    REQUIRE_THROWS_WITH(x.max(2), Contains("[max]") && Contains(kFile));
    REQUIRE_THROWS_WITH(kiln::zeros({0, 2}).min(0), Contains("[min]") && Contains(kFile));
  }
}
