// bench_dynamic: sizes that change without recompiling (README "Sizes that change").
//
//   bench_dynamic [--steps N] [--reps N] [--seed N] [--mark 1]
//
// An MLP (784-512-256-10, ReLU, Adam) trains for 200 steps on random batches whose size is
// drawn from 1..300 at every step. It reports how many programs its step compiled (issue 12's
// bar: at most 3), how many steps ran a program resized from a symbolic one, and the worst
// relative difference between a step's loss and the loss that a fresh program compiled for that
// batch's exact shape (KILN_DYNAMIC=0) computes from the same batch and weights (the bar: 1e-5).
// With --mark 1 every batch is marked by kiln::mark_dynamic, so the step compiles symbolic kernels
// from its first batch on. Then it times the step at a batch of 256, the symbolic program against
// the concrete one, interleaved.
#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <random>
#include <string>

using kiln::Tensor;
namespace nn = kiln::nn;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  int steps = 200, reps = 15;
  uint32_t seed = 0;
  bool mark = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--steps")
      steps = std::stoi(argv[i + 1]);
    else if (a == "--reps")
      reps = std::stoi(argv[i + 1]);
    else if (a == "--seed")
      seed = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    else if (a == "--mark")
      mark = std::stoi(argv[i + 1]) != 0;
  }
  kiln::manual_seed(seed);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(784, 512), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(512, 256), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(256, 10)});
  kiln::optim::Adam opt(model->parameters(), {.lr = 1e-3});
  auto batch_of = [&](int64_t b) {
    Tensor x = kiln::randn({b, 784}), y = kiln::randint(0, 10, {b});
    kiln::realize({x, y});
    if (mark) {
      kiln::mark_dynamic(x, 0);
      kiln::mark_dynamic(y, 0);
    }
    return std::pair{x, y};
  };
  auto train_step = [&](const Tensor& x, const Tensor& y) {
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    loss.backward();
    opt.step({loss});
    opt.zero_grad();
    return loss.item<double>();
  };

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> draw(1, 300);
  int64_t step_compiled = 0, step_resized = 0, first_batch = 0;
  double worst = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    int64_t b = draw(rng);
    if (s == 0) first_batch = b;
    auto [x, y] = batch_of(b);
    kiln::options().dynamic = false; // the oracle: a program for exactly this shape
    double expected = nn::functional::cross_entropy((*model)(x), y).item<double>();
    kiln::options().dynamic = true;
    auto before = kiln::stats();
    double got = train_step(x, y);
    auto after = kiln::stats();
    step_compiled += after.programs_compiled - before.programs_compiled;
    step_resized += after.programs_resized - before.programs_resized;
    worst = std::max(worst, std::fabs(got - expected) / std::fabs(expected));
  }
  double loop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{} steps, batch sizes drawn from 1..300 (seed {}{}), {:.1f} s with the oracle's "
             "compiles\n",
             steps, seed, mark ? ", batches marked dynamic" : "", loop_s);
  fmt::print("step programs compiled: {} (bar: at most 3); steps resized from the symbolic "
             "program: {}\n",
             step_compiled, step_resized);
  fmt::print("worst relative difference of a step's loss from a concrete-shape program's: {:.2e} "
             "(bar: 1e-5)\n",
             worst);

  // The step at one batch size: symbolic (dynamic) against concrete, interleaved.
  int64_t b = first_batch == 256 ? 255 : 256;
  auto [x, y] = batch_of(b);
  std::vector<double> times[2];
  for (int i = 0; i < reps + 2; ++i)
    for (int mode : {i % 2, 1 - i % 2}) {
      kiln::options().dynamic = mode == 0;
      auto t = std::chrono::steady_clock::now();
      train_step(x, y);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
      if (i >= 2) times[mode].push_back(ms); // after each mode's compile and a warm-up
    }
  kiln::options().dynamic = true;
  double sym = median(times[0]), conc = median(times[1]);
  fmt::print("step at batch {}: symbolic {:.2f} ms, concrete {:.2f} ms (median of {}, "
             "interleaved): symbolic/concrete {:.2f}\n",
             b, sym, conc, reps, sym / conc);
  fmt::print("{}\n", kiln::stats().str());
}
