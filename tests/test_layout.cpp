// Matmul operand layout (passes/layout.h) and the kernels it leads to: transposed operands
// copied in 8 x 8 blocks (edges included), products computed transposed, a weight's gradient
// realized in the weight's layout. Values against the interpreter.
#include "test_util.h"

using namespace kt;

TEST_CASE("layout: transposed operands, odd sizes and batches", "[layout]") {
  kiln::manual_seed(41);
  SECTION("x @ w.t()") {
    auto x = kiln::randn({37, 45}), w = kiln::randn({53, 45});
    Tensor y = kiln::matmul(x, w.transpose(0, 1));
    check_close(y, kiln::reference(y), 1e-5, 1e-5);
  }
  SECTION("batched q @ k^T") {
    auto q = kiln::randn({2, 3, 19, 24}), k = kiln::randn({2, 3, 21, 24});
    Tensor y = kiln::matmul(q, k.transpose(-1, -2));
    check_close(y, kiln::reference(y), 1e-5, 1e-5);
  }
  SECTION("few columns: computed transposed") {
    auto a = kiln::randn({300, 40}), b = kiln::randn({40, 7});
    Tensor y = kiln::matmul(a, b).relu();
    check_close(y, kiln::reference(y), 1e-5, 1e-5);
  }
}

TEST_CASE("layout: a weight's gradient is realized in the weight's layout", "[layout]") {
  kiln::manual_seed(42);
  auto x = kiln::randn({64, 33}), w = kiln::randn({48, 33}).requires_grad_();
  Tensor loss = kiln::matmul(x, w.transpose(0, 1)).tanh().sum();
  loss.backward();
  Tensor g = w.grad();
  Tensor ref = kiln::reference(g);
  g.realize();
  check_close(g, ref, 1e-5, 1e-5);
  // d loss / d w = (1 - tanh^2)^T @ x, by hand in f64.
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), gv = g.to_vector<double>();
  double worst = 0;
  for (int o = 0; o < 48; ++o)
    for (int i = 0; i < 33; ++i) {
      double want = 0;
      for (int n = 0; n < 64; ++n) {
        double z = 0;
        for (int k = 0; k < 33; ++k) z += xv[n * 33 + k] * wv[o * 33 + k];
        want += (1 - std::tanh(z) * std::tanh(z)) * xv[n * 33 + i];
      }
      worst = std::max(worst, std::fabs(gv[o * 33 + i] - want) / (1 + std::fabs(want)));
    }
  CHECK(worst < 1e-4);
}
