// Values PyTorch raises on: out-of-range indices of gathering ops, integer division by zero.
#include "test_util.h"

using namespace kt;
using Catch::Contains;
namespace F = kiln::nn::functional;

namespace {
const char* const kFile = "test_value_checks.cpp";
} // namespace

TEST_CASE("embedding rejects indices outside its table", "[errors][indices]") {
  Tensor table = random_input({10, 4}, DType::F32);
  for (int64_t bad : {10, -1, 1000}) {
    Tensor idx = kiln::tensor(std::vector<int64_t>{2, bad, 3});
    INFO("index " << bad);
    REQUIRE_THROWS_AS(F::embedding(idx, table), kiln::Error);
    REQUIRE_THROWS_WITH(F::embedding(idx, table), Contains("[embedding]") &&
                                                      Contains("index " + std::to_string(bad)) &&
                                                      Contains("index < 10") && Contains(kFile));
  }
  // A lazily computed index is checked too (realized at the call).
  Tensor lazy = kiln::tensor(std::vector<int64_t>{3, 4}) * 3;
  REQUIRE_THROWS_WITH(F::embedding(lazy, table), Contains("index 12"));
  // In range: the rows themselves.
  Tensor ok = F::embedding(kiln::tensor(std::vector<int64_t>{9, 0}), table);
  check_close(ok, kiln::cat({table.slice(0, 9, 10), table.slice(0, 0, 1)}));
}

TEST_CASE("losses reject targets outside the classes", "[errors][indices]") {
  Tensor logits = random_input({2, 3}, DType::F32);
  Tensor bad = kiln::tensor(std::vector<int64_t>{0, 7});
  REQUIRE_THROWS_WITH(F::cross_entropy(logits, bad),
                      Contains("[cross_entropy]") && Contains("index 7") && Contains("index < 3"));
  REQUIRE_THROWS_WITH(F::nll_loss(logits, kiln::tensor(std::vector<int64_t>{-1, 0})),
                      Contains("[nll_loss]") && Contains("index -1"));
  REQUIRE_THROWS_WITH(F::one_hot(bad, 3), Contains("[one_hot]") && Contains("index 7"));
}

TEST_CASE("integer fmod by zero raises", "[errors]") {
  Tensor a = kiln::tensor(std::vector<int64_t>{7, -7});
  REQUIRE_THROWS_WITH(kiln::fmod(a, 0), Contains("[fmod]") && Contains("division by zero"));
  REQUIRE_THROWS_WITH(kiln::fmod(a, kiln::tensor(std::vector<int64_t>{2, 0})),
                      Contains("division by zero") && Contains(kFile));
  REQUIRE(kiln::fmod(a, 3).to_vector<int64_t>() == std::vector<int64_t>{1, -1});
  // Floats follow IEEE: NaN, no error.
  REQUIRE(std::isnan(kiln::fmod(kiln::tensor({1.f}), 0).item<float>()));
}

TEST_CASE("gather, index_select and scatter_add reject indices outside the axis",
          "[errors][indices]") {
  Tensor x = random_input({2, 3}, DType::F32);
  Tensor bad = kiln::tensor(std::vector<int64_t>{0, 3, 1, 2, 0, 1}).reshape({2, 3});
  REQUIRE_THROWS_WITH(kiln::gather(x, 1, bad), Contains("[gather]") && Contains("index 3"));
  REQUIRE_THROWS_WITH(kiln::index_select(x, 0, kiln::tensor(std::vector<int64_t>{1, 2})),
                      Contains("[index_select]") && Contains("index 2") && Contains("index < 2"));
  REQUIRE_THROWS_WITH(kiln::scatter_add(x, 1, bad, x), Contains("[scatter_add]"));
}
