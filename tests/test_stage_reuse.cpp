// Cross-stage reuse (passes/stage_reuse.h): which later-stage values load what an earlier stage
// kept, on kernel IR written by hand, and the values of kernels that use it.
#include "test_util.h"

#include "ir/kernel_parser.h"
#include "passes/stage_reuse.h"

#include <functional>

using namespace kt;

namespace {

// Softmax over rows of 8 as lowering writes it: %16 = exp in the sum stage, %11 = the same exp
// in the stage that writes the row. `extent` sets the last stage's length.
std::string softmax_kernel(int extent = 8) {
  return "kernel k(a0: f32[32], a1: f32[32] out)\n"
         "  domain [4]\n"
         "  stage 0 [8]\n"
         "  stage 1 [8]\n"
         "  stage 2 [" +
         std::to_string(extent) +
         "]\n"
         "  %0 = index 0 : i64\n"
         "  %1 = const 8 : i64\n"
         "  %2 = mul %0, %1 : i64\n"
         "  %3 = rindex 2.0 : i64\n"
         "  %4 = add %2, %3 : i64\n"
         "  %5 = load a0[%4] : f32\n"
         "  %6 = rindex 0.0 : i64\n"
         "  %7 = add %2, %6 : i64\n"
         "  %8 = load a0[%7] : f32\n"
         "  %9 = max %8 @0 : f32\n"
         "  %10 = sub %5, %9 : f32\n"
         "  %11 = exp %10 : f32\n"
         "  %12 = rindex 1.0 : i64\n"
         "  %13 = add %2, %12 : i64\n"
         "  %14 = load a0[%13] : f32\n"
         "  %15 = sub %14, %9 : f32\n"
         "  %16 = exp %15 : f32\n"
         "  %17 = sum %16 @1 : f32\n"
         "  %18 = div %11, %17 : f32\n"
         "  store a1[%4] = %18\n";
}

} // namespace

TEST_CASE("stage reuse: softmax's map stage loads the exp of its sum stage", "[stage-reuse]") {
  auto reuse = kiln::find_stage_reuse(kiln::parse_kernel(softmax_kernel()));
  REQUIRE(reuse.size() == 1);
  CHECK(reuse[0].inst == 16);
  CHECK(reuse[0].stage == 1);
  CHECK(reuse[0].replaces == std::vector<int>{11});
}

TEST_CASE("stage reuse: not across stages of other extents, nor past the buffer budget",
          "[stage-reuse]") {
  // Stage 2 over 4 elements reads other addresses than stage 1 over 8: not the same values.
  CHECK(kiln::find_stage_reuse(kiln::parse_kernel(softmax_kernel(4))).empty());
  CHECK(kiln::find_stage_reuse(kiln::parse_kernel(softmax_kernel()), 8 * 4 - 1).empty());
  CHECK(kiln::find_stage_reuse(kiln::parse_kernel(softmax_kernel()), 8 * 4).size() == 1);
}

TEST_CASE("stage reuse: cheap values are recomputed", "[stage-reuse]") {
  // Layernorm's x - mean is needed by the variance stage and the map stage; a subtraction is
  // cheaper than a store and a load.
  std::string text = softmax_kernel();
  for (auto [from, to] : {std::pair{"exp %10", "neg %10"}, {"exp %15", "neg %15"}})
    text.replace(text.find(from), std::string(from).size(), to);
  CHECK(kiln::find_stage_reuse(kiln::parse_kernel(text)).empty());
}

// Built in a function, so that no intermediate is held (held tensors become kernel outputs).
static void check_one_kernel(const std::function<Tensor()>& build, double rtol) {
  Tensor y = build();
  Tensor ref = kiln::reference(y);
  auto before = kiln::stats().kernels_launched;
  y.realize();
  CHECK(kiln::stats().kernels_launched - before == 1);
  check_close(y, ref, rtol, 1e-6);
}

TEST_CASE("stage reuse: kernels that keep values agree with the interpreter", "[stage-reuse]") {
  kiln::manual_seed(31);
  auto x = kiln::randn({3, 5, 7}) * 4.0;
  x.realize();
  SECTION("softmax over two transposed axes: stages of two loops") {
    check_one_kernel(
        [&] {
          auto xt = x.transpose(1, 2);
          auto e = (xt - xt.max({1, 2}, true)).exp();
          return e / e.sum({1, 2}, true);
        },
        1e-5);
  }
  SECTION("a value kept for a reduction stage and the map stage") {
    check_one_kernel(
        [&] {
          auto t = x.tanh();
          return t * t.sum({-1}, true) - (t * t).sum({-1}, true) + t.exp();
        },
        1e-5);
  }
}
