// topk and multinomial: hand-computed selections, gradients through topk's values, seeded
// sampling frequencies and errors.
#include "test_util.h"

#include <limits>
#include <set>

using namespace kt;

TEST_CASE("topk picks the largest or smallest along an axis", "[sampling]") {
  Tensor x = kiln::tensor({{3.f, 1.f, 4.f, 1.f, 5.f}, {9.f, 2.f, 6.f, 5.f, 3.f}});
  auto [v, i] = kiln::topk(x, 2);
  check_values(v, {5, 4, 9, 6});
  check_values(i, {4, 2, 0, 2});
  CHECK(i.dtype() == DType::I64);
  CHECK(i.shape() == Shape{2, 2});
  auto [sv, si] = kiln::topk(x, 2, -1, /*largest=*/false);
  check_values(sv, {1, 1, 2, 3});
  check_values(si, {1, 3, 1, 4}); // ties in index order
  auto [cv, ci] = kiln::topk(x, 1, 0);
  CHECK(cv.shape() == Shape{1, 5});
  check_values(cv, {9, 2, 6, 5, 5});
  check_values(ci, {1, 1, 1, 1, 0});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto [nv, ni] = kiln::topk(kiln::tensor({1.f, nan, 7.f}), 2);
  check_values(ni, {1, 2}); // NaN is the largest, as in PyTorch
  auto [none, none_i] = kiln::topk(x, 0);
  CHECK(none.shape() == Shape{2, 0});
}

TEST_CASE("topk values pass gradients to the picked elements", "[sampling][autodiff]") {
  Tensor x = kiln::tensor({{3.0, 1.0, 4.0}, {2.0, 8.0, 6.0}});
  x.requires_grad_();
  auto [v, i] = kiln::topk(x, 2);
  (v * kiln::tensor({{1.0, 10.0}, {100.0, 1000.0}})).sum().backward();
  check_values(x.grad(), {10, 0, 1, 0, 100, 1000});
}

TEST_CASE("topk errors", "[sampling][errors]") {
  CHECK_THROWS_WITH(kiln::topk(kiln::ones({2, 3}), 4),
                    Catch::Contains("[topk] k = 4 is out of range for axis -1 of f32[2, 3]"));
  CHECK_THROWS_WITH(kiln::topk(kiln::ones({2, 3}), 1, 2), Catch::Contains("[topk]"));
  CHECK_THROWS_WITH(kiln::topk(kiln::scalar_tensor(1), 1), Catch::Contains("must have an axis"));
}

TEST_CASE("multinomial draws by weight, seeded, with and without replacement", "[sampling]") {
  kiln::Generator gen(3);
  Tensor w = kiln::tensor({0.2f, 0.0f, 0.4f, 1.4f}); // unnormalized: 10%, 0, 20%, 70%
  const int64_t n = 20000;
  auto draws = kiln::multinomial(w, n, /*replacement=*/true, &gen).to_vector<int64_t>();
  std::vector<double> freq(4, 0);
  for (int64_t d : draws) freq[d] += 1.0 / n;
  CHECK(freq[1] == 0);
  CHECK(std::fabs(freq[0] - 0.1) < 0.015);
  CHECK(std::fabs(freq[2] - 0.2) < 0.015);
  CHECK(std::fabs(freq[3] - 0.7) < 0.015);
  // Seeded: the same generator state gives the same draws.
  kiln::Generator a(9), b(9);
  CHECK(kiln::multinomial(w, 50, true, &a).to_vector<int64_t>() ==
        kiln::multinomial(w, 50, true, &b).to_vector<int64_t>());
  // Without replacement each index once: all three nonzero ones, in some order, per row.
  Tensor rows = kiln::tensor({{0.2f, 0.0f, 0.4f, 1.4f}, {1.0f, 1.0f, 0.0f, 1.0f}});
  Tensor picked = kiln::multinomial(rows, 3, false, &gen);
  CHECK(picked.shape() == Shape{2, 3});
  auto p = picked.to_vector<int64_t>();
  CHECK(std::set<int64_t>(p.begin(), p.begin() + 3) == std::set<int64_t>{0, 2, 3});
  CHECK(std::set<int64_t>(p.begin() + 3, p.end()) == std::set<int64_t>{0, 1, 3});
}

TEST_CASE("multinomial errors", "[sampling][errors]") {
  Tensor w = kiln::tensor({0.5f, 0.0f, 0.5f});
  CHECK_THROWS_WITH(kiln::multinomial(w, 3),
                    Catch::Contains("row 0 of probs f32[3] has 2 classes of nonzero weight"));
  CHECK_THROWS_WITH(kiln::multinomial(w, 4), Catch::Contains("cannot draw 4 samples"));
  CHECK_THROWS_WITH(kiln::multinomial(kiln::tensor({0.5f, -1.0f}), 1, true),
                    Catch::Contains("expected finite weights >= 0"));
  CHECK_THROWS_WITH(kiln::multinomial(kiln::zeros({2}), 1, true),
                    Catch::Contains("nonzero weight"));
  CHECK_THROWS_WITH(kiln::multinomial(kiln::ones({2, 2, 2}), 1), Catch::Contains("[multinomial]"));
}
