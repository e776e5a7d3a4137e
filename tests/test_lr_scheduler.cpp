// Learning-rate schedules against their formulas; a scheduled AdamW run against a hand-computed
// one, compiling its step once.
#include "test_util.h"

#include <numbers>

using namespace kt;
namespace optim = kiln::optim;

namespace {

std::vector<double> lrs(optim::LRScheduler& s, int steps) {
  std::vector<double> out = {s.last_lr()};
  for (int i = 0; i < steps; ++i) {
    s.step();
    out.push_back(s.last_lr());
  }
  return out;
}

void check_lrs(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("step " << i);
    CHECK(values_close(got[i], want[i], 1e-12, 1e-15));
  }
}

} // namespace

TEST_CASE("schedules follow their formulas", "[optim][lr_scheduler]") {
  Tensor p = param({1});
  optim::SGD opt({p}, {.lr = 0.1});
  optim::StepLR step(opt, 2, 0.5);
  check_lrs(lrs(step, 4), {0.1, 0.1, 0.05, 0.05, 0.025});
  optim::LinearLR linear(opt, 0.25, 1.0, 3);
  check_lrs(lrs(linear, 4), {0.025, 0.05, 0.075, 0.1, 0.1});
  optim::CosineAnnealingLR cosine(opt, 4, 0.02);
  double mid = 0.02 + 0.08 * (1 + std::cos(std::numbers::pi / 4)) / 2;
  check_lrs(lrs(cosine, 4), {0.1, mid, 0.06, 0.12 - mid, 0.02});
  optim::LambdaLR lambda(opt, [](int64_t s) { return 1.0 / (s + 1); });
  check_lrs(lrs(lambda, 2), {0.1, 0.05, 0.1 / 3});
  // Warm-up over 2 steps, then cosine down to 0 over 2: the second schedule counts from its
  // milestone, from the initial lr (not from where the first left it).
  optim::SequentialLR warm(opt,
                           {std::make_shared<optim::LinearLR>(opt, 0.5, 1.0, 2),
                            std::make_shared<optim::CosineAnnealingLR>(opt, 2)},
                           {2});
  check_lrs(lrs(warm, 5), {0.05, 0.075, 0.1, 0.05, 0.0, 0.05});
  CHECK(opt.lr() == warm.last_lr());
}

TEST_CASE("schedule errors", "[optim][lr_scheduler][errors]") {
  Tensor p = param({1});
  optim::SGD opt({p}, {.lr = 0.1}), other({p}, {.lr = 0.1});
  CHECK_THROWS_WITH(optim::StepLR(opt, 0), Catch::Contains("[StepLR] step_size 0 must be > 0"));
  CHECK_THROWS_WITH(optim::LinearLR(opt, 0.0), Catch::Contains("[LinearLR] start_factor 0"));
  CHECK_THROWS_WITH(optim::CosineAnnealingLR(opt, 0), Catch::Contains("[CosineAnnealingLR]"));
  auto a = std::make_shared<optim::StepLR>(opt, 1), b = std::make_shared<optim::StepLR>(other, 1);
  CHECK_THROWS_WITH(optim::SequentialLR(opt, {a, a}, {}), Catch::Contains("need 1 milestones"));
  // Before: "0 schedules need 18446744073709551615 milestones".
  CHECK_THROWS_WITH(optim::SequentialLR(opt, {}, {}), Catch::Contains("at least one schedule"));
  CHECK_THROWS_WITH(optim::SequentialLR(opt, {a, b}, {3}), Catch::Contains("same optimizer"));
  CHECK_THROWS_WITH(optim::SequentialLR(opt, {a, a, a}, {3, 3}),
                    Catch::Contains("increasing, got 3, 3"));
}

TEST_CASE("a scheduled AdamW run matches hand computation and compiles its step once",
          "[optim][lr_scheduler][cache]") {
  // Warm-up from 0.2 * lr, cosine decay to exactly 0 (where AdamW's decay factor 1 - lr * wd is
  // exactly 1): every lr is a kernel parameter, so no step recompiles.
  const double lr = 0.1, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Tensor p = param({1.5, -0.5});
  optim::AdamW opt({p}, {.lr = lr, .weight_decay = wd});
  optim::SequentialLR sched(opt,
                            {std::make_shared<optim::LinearLR>(opt, 0.2, 1.0, 3),
                             std::make_shared<optim::CosineAnnealingLR>(opt, 4)},
                            {3});
  std::vector<double> want = {1.5, -0.5}, m(2, 0), v(2, 0);
  int64_t compiled = 0;
  for (int t = 1; t <= 8; ++t) {
    if (t == 2) compiled = kiln::stats().programs_compiled;
    double rate = opt.lr();
    ((p * p).sum() * 0.5).backward(); // gradient p
    opt.step();
    opt.zero_grad();
    sched.step();
    for (size_t i = 0; i < 2; ++i) {
      double g = want[i];
      want[i] *= 1 - rate * wd;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      want[i] -=
          rate * (m[i] / (1 - std::pow(b1, t))) / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
    }
    INFO("step " << t << " at lr " << rate);
    check_values(p, want, 1e-12);
  }
  CHECK(opt.lr() == 0.05 * (1 + std::cos(std::numbers::pi * 5 / 4)));
  CHECK(kiln::stats().programs_compiled == compiled);
}

TEST_CASE("Adam's bias correction reaching 1 does not change the step's program",
          "[optim][cache]") {
  Tensor p = param({1, -2});
  optim::Adam opt({p}, {.lr = 0.01});
  auto step = [&] {
    ((p * p).sum() * 0.5).backward();
    opt.step();
    opt.zero_grad();
  };
  step();
  int64_t compiled = kiln::stats().programs_compiled;
  // After 40,000 steps 1 - 0.999^t rounds to exactly 1 in double.
  auto state = opt.state();
  state[0].second = kiln::tensor<int64_t>({40000});
  opt.load_state(state);
  step();
  opt.set_lr(1.0);
  step();
  CHECK(kiln::stats().programs_compiled == compiled);
}
