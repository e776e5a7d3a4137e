// Structural fusion tests ("this graph becomes exactly N kernels") beside numeric checks.
#include "test_util.h"

#include <functional>

using namespace kt;

namespace {

// Kernels launched by one realize of what build() returns, and a check of its values against the
// interpreter. Built in a function so that no temporary of the expression is still held (held
// tensors are realized too).
int64_t kernels_for(const std::function<Tensor()>& build) {
  Tensor t = build();
  Tensor ref = kiln::reference(t);
  auto before = kiln::stats().kernels_launched;
  t.realize();
  check_close(t, ref, 1e-5, 1e-5);
  return kiln::stats().kernels_launched - before;
}

Tensor softmax(const Tensor& x) {
  auto e = (x - x.max({-1}, true)).exp();
  return e / e.sum({-1}, true);
}

} // namespace

TEST_CASE("an elementwise chain is one kernel", "[fusion]") {
  kiln::manual_seed(7);
  auto x = kiln::randn({1000}), a = kiln::randn({1000}), b = kiln::randn({1000});
  CHECK(kernels_for([&] { return (x * a + b).gelu("tanh"); }) == 1);
}

TEST_CASE("broadcasts and views fuse", "[fusion]") {
  kiln::manual_seed(8);
  auto x = kiln::randn({16, 32}), bias = kiln::randn({32});
  CHECK(kernels_for([&] {
          return (x.transpose(0, 1) + bias.reshape({32, 1})).relu().slice(1, 2, std::nullopt, 3);
        }) == 1);
}

TEST_CASE("softmax is one kernel with three stages", "[fusion]") {
  kiln::manual_seed(9);
  auto x = kiln::randn({64, 128});
  CHECK(kernels_for([&] { return softmax(x); }) == 1);
}

TEST_CASE("layernorm is one kernel", "[fusion]") {
  kiln::manual_seed(10);
  auto x = kiln::randn({32, 256}), w = kiln::randn({256}), b = kiln::randn({256});
  CHECK(kernels_for([&] {
          auto mu = x.mean({-1}, true);
          auto d = x - mu;
          return d * ((d * d).mean({-1}, true) + 1e-5).rsqrt() * w + b;
        }) == 1);
}

TEST_CASE("matmul epilogue: bias, activation and scale fuse into the matmul", "[fusion]") {
  kiln::manual_seed(11);
  auto a = kiln::randn({33, 70}), w = kiln::randn({70, 45}), bias = kiln::randn({45});
  CHECK(kernels_for([&] { return (kiln::matmul(a, w) + bias).relu() * 0.5; }) == 1);
}

TEST_CASE("a kernel computes at most one product: a gated MLP is two kernels", "[fusion]") {
  // silu(h @ W1) * (h @ W3) fused into one loop nest ran 20x slower than unfused: one product is
  // written, the other keeps the silu and the multiply as its epilogue.
  kiln::manual_seed(12);
  auto h = kiln::randn({37, 48}) * 0.2, w1 = kiln::randn({48, 80}) * 0.2,
       w3 = kiln::randn({48, 80}) * 0.2;
  kiln::realize({h, w1, w3});
  CHECK(kernels_for([&] {
          auto g = kiln::matmul(h, w1);
          return g * g.sigmoid() * kiln::matmul(h, w3);
        }) == 2);
}

TEST_CASE("a reduction feeding a reduction of another shape splits", "[fusion]") {
  kiln::manual_seed(12);
  auto x = kiln::randn({20, 30});
  // The column sums are needed by every row: computing them once is a kernel of their own.
  CHECK(kernels_for([&] { return (x - x.sum({0}, true)).exp().sum({1}); }) == 2);
}

TEST_CASE("a lazy sum of many reductions splits into kernels of at most 32 stages", "[fusion]") {
  // One kernel holds at most 63 stages: 64 reductions summed lazily (a metric accumulated over
  // steps, an L2 penalty over every parameter) once failed to compile.
  kiln::manual_seed(14);
  std::vector<Tensor> xs;
  for (int i = 0; i < 100; ++i) xs.push_back(kiln::randn({37}));
  kiln::realize(xs);
  int64_t kernels = kernels_for([&] {
    Tensor acc = kiln::zeros({});
    for (const Tensor& x : xs) acc = acc + x.sum() + (x * x).max();
    return acc;
  });
  CHECK(kernels >= 7); // 200 reductions, at most 32 per kernel
  CHECK(kernels <= 10);
}

TEST_CASE("an expensive value used by two kernels is written once", "[fusion]") {
  kiln::manual_seed(13);
  auto x = kiln::randn({64, 64});
  auto e = x.exp();
  auto s = e.sum({0}, true), t = e.sum({1}, true);
  e = Tensor();
  auto before = kiln::stats().kernels_launched;
  kiln::realize({s, t});
  CHECK(kiln::stats().kernels_launched - before == 3);
}

TEST_CASE("fusion off gives one kernel per compute op, same values", "[fusion]") {
  kiln::manual_seed(14);
  auto x = kiln::randn({8, 16});
  kiln::options().fusion = false;
  CHECK(kernels_for([&] { return softmax(x); }) == 5);
  kiln::options().fusion = true;
  CHECK(kernels_for([&] { return softmax(x); }) == 1);
}

TEST_CASE("a loop over changing learning rates compiles once", "[fusion][params]") {
  kiln::manual_seed(15);
  auto w = kiln::randn({256}), g = kiln::randn({256});
  auto compiled = kiln::stats().programs_compiled;
  for (int step = 0; step < 100; ++step) {
    double lr = 0.1 / (1 + step);
    Tensor next = w - g * lr;
    auto expected = w.to_vector<float>();
    auto gv = g.to_vector<float>();
    next.realize();
    auto got = next.to_vector<float>();
    for (size_t i = 0; i < got.size(); i += 37)
      REQUIRE(got[i] == Approx(expected[i] - gv[i] * float(lr)));
    w = next;
  }
  CHECK(kiln::stats().programs_compiled - compiled == 1);
}

TEST_CASE("independent outputs over one domain share a kernel", "[fusion][multi-output]") {
  kiln::manual_seed(16);
  auto g = kiln::randn({300}), p = kiln::randn({300}), m = kiln::randn({300});
  Tensor p2 = p - g * 0.1, m2 = m * 0.9 + g;
  Tensor rp = kiln::reference(p2), rm = kiln::reference(m2);
  auto before = kiln::stats().kernels_launched;
  kiln::realize({p2, m2});
  CHECK(kiln::stats().kernels_launched - before == 1);
  check_close(p2, rp);
  check_close(m2, rm);
}

TEST_CASE("a fused program never needs more memory than the unfused one", "[fusion][memory]") {
  kiln::manual_seed(17);
  auto x = kiln::randn({64, 256}), w = kiln::randn({256}), b = kiln::randn({256});
  auto a = kiln::randn({64, 256}), m = kiln::randn({256, 128});
  std::vector<std::pair<const char*, std::function<Tensor()>>> graphs = {
      {"gelu chain", [&] { return (x * a + b).gelu("tanh"); }},
      {"softmax", [&] { return softmax(x); }},
      {"layernorm",
       [&] {
         auto mu = x.mean({-1}, true);
         auto d = x - mu;
         return d * ((d * d).mean({-1}, true) + 1e-5).rsqrt() * w + b;
       }},
      {"matmul epilogue", [&] { return (kiln::matmul(x, m) + 1.0).relu(); }},
      {"attention-like",
       [&] { return kiln::matmul(softmax(kiln::matmul(x, m) / 8.0), m.transpose(0, 1)); }},
  };
  for (auto& [name, build] : graphs) {
    INFO(name);
    int64_t peak[2];
    for (int fused = 0; fused < 2; ++fused) {
      kiln::options().fusion = fused == 1;
      build().realize();
      peak[fused] = kiln::stats().last_program_peak_bytes;
    }
    kiln::options().fusion = true;
    CHECK(peak[1] <= peak[0]);
    CHECK(peak[1] > 0);
  }
}

TEST_CASE("dead intermediates are written over in place", "[fusion][memory]") {
  kiln::manual_seed(18);
  auto x = kiln::randn({4096});
  kiln::options().fusion = false; // five kernels, each output can reuse the previous one's buffer
  Tensor y = ((x * 2 + 1).exp() - 3).abs();
  Tensor ref = kiln::reference(y);
  y.realize();
  kiln::options().fusion = true;
  check_close(y, ref);
  CHECK(kiln::stats().last_program_peak_bytes == 4096 * 4);
}
