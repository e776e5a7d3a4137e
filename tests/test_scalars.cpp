// Numbers a user passes: exact integers end to end, and kernel parameters (never compiled in),
// so a loop over changing scalars compiles one program.
#include "test_util.h"

using namespace kt;
using Catch::Contains;

namespace {

// Programs compiled while f runs for each of 50 values.
int64_t programs_over_50_values(const std::function<void(int)>& f) {
  auto before = kiln::stats().programs_compiled;
  for (int i = 0; i < 50; ++i) f(i);
  return kiln::stats().programs_compiled - before;
}

} // namespace

TEST_CASE("64-bit integer scalars stay exact", "[scalars]") {
  const int64_t big = (int64_t(1) << 53) + 1; // not representable as a double
  Tensor t = kiln::tensor(std::vector<int64_t>{0, 5}) + big;
  REQUIRE(t.to_vector<int64_t>() == std::vector<int64_t>{big, big + 5});
  REQUIRE(kiln::reference(kiln::tensor(std::vector<int64_t>{0}) + big).item<int64_t>() == big);
  REQUIRE((kiln::tensor(std::vector<int64_t>{3}) * (big - 2)).item<int64_t>() == 3 * (big - 2));
  REQUIRE(kiln::where(kiln::tensor(std::vector<int64_t>{1}) > 0, big, int64_t(0)).item<int64_t>() ==
          big);
  // Printing shows it exactly.
  REQUIRE_THAT((kiln::tensor(std::vector<int64_t>{0}) + big).str(), Contains("9007199254740993"));
}

TEST_CASE("every scalar a user passes is a kernel parameter", "[scalars]") {
  Tensor ints = kiln::tensor(std::vector<int64_t>{1, -2, 3});
  Tensor x = kiln::tensor({0.5f, 1.5f, 2.5f});
  // (x * 1, x / 1 and x - 0 return x at trace time: values 2.. avoid that rewrite.)
  CHECK(programs_over_50_values([&](int i) {
          int64_t k = i + 2;
          Tensor y = ints * k + (k - 7);
          CHECK(y.to_vector<int64_t>() ==
                std::vector<int64_t>{k + k - 7, -2 * k + k - 7, 3 * k + k - 7});
        }) <= 1); // (0 when an earlier test compiled the same program)
  CHECK(programs_over_50_values([&](int i) {
          double e = 0.31 + 0.05 * i; // never an integer: integers up to 4 are compiled in
          Tensor y = kiln::pow(x, e);
          CHECK(y.to_vector<float>()[1] == Approx(std::pow(1.5, e)).epsilon(1e-5));
        }) <= 1);
  CHECK(programs_over_50_values([&](int i) {
          double t = 0.1 + 0.03 * i;
          std::vector<float> y = kiln::clamp(x, -t, t).to_vector<float>();
          CHECK(y[0] == Approx(std::min(0.5, t)));
        }) <= 1);
  CHECK(programs_over_50_values([&](int i) {
          Tensor y = kiln::full({3}, i + 2, DType::I32) + ints.to(DType::I32);
          CHECK(y.to_vector<int32_t>()[1] == i);
        }) <= 1);
  CHECK(programs_over_50_values([&](int i) {
          std::vector<bool> y = (ints > i - 25).to_vector<bool>();
          CHECK(y[0] == (1 > i - 25));
        }) <= 1);
}

TEST_CASE("integer scalars convert to a narrower dtype the same way everywhere",
          "[scalars][parity]") {
  Tensor u = kiln::tensor<uint8_t>({0, 7, 200});
  for (bool fusion : {true, false}) {
    kiln::options().fusion = fusion;
    INFO("fusion " << fusion);
    for (Tensor t : {u + 255, u * int64_t(2), (u > 7).to(DType::U8), u - 3}) {
      check_close(t, kiln::reference(t));
    }
  }
  kiln::options().fusion = true;
  REQUIRE((u + 255).to_vector<int64_t>() == std::vector<int64_t>{255, 6, 199}); // wraps mod 256
  // A number the dtype cannot hold is an error, as in PyTorch (it used to wrap: u + (-1) was
  // u + 255, and u > -1 false everywhere).
  for (auto f : std::initializer_list<Tensor (*)(const Tensor&)>{
           [](const Tensor& x) { return x + (-1); },
           [](const Tensor& x) { return x * int64_t(257); }, [](const Tensor& x) { return x > -1; },
           [](const Tensor& x) { return x - 300; }})
    CHECK_THAT(kt::error_of([&] { f(u); }), Catch::Contains("does not fit the dtype u8"));
}
