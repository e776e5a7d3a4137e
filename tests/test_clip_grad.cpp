// clip_grad_norm_: the global norm and scaled gradients by hand, computed inside the step's
// program (lazily), one program over many steps.
#include "test_util.h"

using namespace kt;
namespace optim = kiln::optim;

namespace {

// Parameters [1, 2] and [3] (f64) whose gradients are c1 and c2: loss sum(a * c1) + sum(b * c2).
struct Params {
  Tensor a = kiln::tensor({1.0, 2.0}), b = kiln::tensor({3.0});
  Params() {
    a.requires_grad_();
    b.requires_grad_();
  }
  void backward(std::vector<double> c1, std::vector<double> c2) {
    ((a * kiln::tensor(c1)).sum() + (b * kiln::tensor(c2)).sum()).backward();
  }
};

} // namespace

TEST_CASE("clip_grad_norm_ scales gradients to the global norm", "[optim][clip]") {
  Params p;
  p.backward({3, 0}, {4}); // global norm 5
  Tensor norm = kiln::nn::utils::clip_grad_norm_({p.a, p.b}, 1.0);
  CHECK(!norm.is_realized()); // lazy: no trip to the host
  check_values(norm, {5}, 1e-12);
  check_values(p.a.grad(), {3 / (5 + 1e-6), 0}, 1e-12);
  check_values(p.b.grad(), {4 / (5 + 1e-6)}, 1e-12);

  Params q; // under the bound: gradients unchanged
  q.backward({0.3, -0.4}, {1.2});
  check_values(kiln::nn::utils::clip_grad_norm_({q.a, q.b}, 10.0), {1.3}, 1e-12);
  check_values(q.a.grad(), {0.3, -0.4}, 1e-12);

  Tensor lone = kiln::tensor({1.0});
  lone.requires_grad_(); // no gradient: skipped, norm 0
  check_values(kiln::nn::utils::clip_grad_norm_({lone}, 1.0), {0});
  CHECK_THROWS_WITH(kiln::nn::utils::clip_grad_norm_({p.a}, -1.0),
                    Catch::Contains("[clip_grad_norm_] max_norm -1 must be finite and >= 0"));
}

TEST_CASE("clip_grad_norm_ runs inside the step's program, compiled once", "[optim][clip][cache]") {
  Params p;
  optim::SGD opt({p.a, p.b}, {.lr = 0.5});
  std::vector<double> a = {1, 2}, b = {3};
  int64_t compiled = 0;
  for (int s = 0; s < 5; ++s) {
    if (s == 1) compiled = kiln::stats().programs_compiled;
    // Gradients 3 * (s + 1), 4 * (s + 1): norm 5 * (s + 1), clipped to max_norm = s + 2.
    double scale = s + 1, bound = s + 2;
    p.backward({3 * scale, 0}, {4 * scale});
    Tensor norm = kiln::nn::utils::clip_grad_norm_({p.a, p.b}, bound);
    opt.step();
    opt.zero_grad();
    CHECK(norm.is_realized()); // computed by the step's program
    check_values(norm, {5 * scale}, 1e-12);
    double k = std::min(1.0, bound / (5 * scale + 1e-6));
    a[0] -= 0.5 * 3 * scale * k;
    b[0] -= 0.5 * 4 * scale * k;
    check_values(p.a, a, 1e-12);
    check_values(p.b, b, 1e-12);
  }
  CHECK(kiln::stats().programs_compiled == compiled); // a new bound is a kernel parameter
}
