// kiln::data::DataLoader: batch sizes (the last partial batch kept by default, as PyTorch does),
// seeded shuffling and errors.
#include "test_util.h"

using namespace kt;

namespace {

kiln::data::Dataset numbered(int64_t n) {
  std::vector<float> x(n * 2);
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) x[2 * i] = float(i), x[2 * i + 1] = float(-i), y[i] = i;
  return {kiln::tensor(x, Shape{n, 2}), kiln::tensor(y)};
}

// The targets of one epoch, batch by batch.
std::vector<std::vector<int64_t>> epoch(kiln::data::DataLoader& loader) {
  loader.reset();
  std::vector<std::vector<int64_t>> out;
  Tensor x, y;
  while (loader.next(x, y)) {
    auto ys = y.to_vector<int64_t>();
    auto xs = x.to_vector<double>();
    for (size_t i = 0; i < ys.size(); ++i) CHECK(xs[2 * i] == double(ys[i])); // rows stay paired
    out.push_back(ys);
  }
  return out;
}

} // namespace

TEST_CASE("DataLoader keeps the last partial batch unless drop_last", "[data]") {
  kiln::data::DataLoader keep(numbered(10), 4, /*shuffle=*/false);
  CHECK(keep.batches() == 3);
  auto batches = epoch(keep);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0] == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(batches[2] == std::vector<int64_t>{8, 9});

  kiln::data::DataLoader drop(numbered(10), 4, /*shuffle=*/false, 0, /*drop_last=*/true);
  CHECK(drop.batches() == 2);
  CHECK(epoch(drop).size() == 2);
}

TEST_CASE("DataLoader shuffles every epoch differently, seeded", "[data]") {
  kiln::data::DataLoader a(numbered(9), 4, true, 7), b(numbered(9), 4, true, 7);
  auto flat = [](const std::vector<std::vector<int64_t>>& bs) {
    std::vector<int64_t> all;
    for (auto& v : bs) all.insert(all.end(), v.begin(), v.end());
    return all;
  };
  auto e1 = flat(epoch(a)), e2 = flat(epoch(a));
  CHECK(e1 == flat(epoch(b))); // same seed, same order
  CHECK(e1 != e2);
  std::sort(e1.begin(), e1.end());
  CHECK(e1 == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}); // a permutation, nothing lost
}

TEST_CASE("DataLoader errors", "[data][errors]") {
  CHECK_THROWS_WITH(kiln::data::DataLoader(numbered(3), 0),
                    Catch::Contains("[DataLoader] batch size must be positive"));
  kiln::data::Dataset bad{kiln::zeros({3, 2}), kiln::zeros({4}, DType::I64)};
  CHECK_THROWS_WITH(kiln::data::DataLoader(bad, 2),
                    Catch::Contains("inputs f32[3, 2] and targets i64[4]") &&
                        Catch::Contains("same first dimension"));
  CHECK_THROWS_WITH(kiln::data::DataLoader(kiln::data::Dataset{}, 2),
                    Catch::Contains("the data set has no inputs"));
  CHECK_THROWS_WITH(kiln::data::DataLoader({kiln::ones({3, 2}), Tensor()}, 2),
                    Catch::Contains("the data set has no targets"));
  // A scalar has no first dimension to batch along.
  CHECK_THROWS_WITH(kiln::data::DataLoader({kiln::ones({3, 2}), kiln::tensor(1.0f)}, 2),
                    Catch::Contains("targets f32[]"));
  CHECK(kiln::data::Dataset{kiln::tensor(1.0f), Tensor()}.size() == 0);
}
