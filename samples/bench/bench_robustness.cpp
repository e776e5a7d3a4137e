// Figures for the user-trust bars (issue 9): a long lazy chain, memory of a loop that reassigns
// a realized tensor, and the accuracy of a long float sum. Times are medians; the update loop's
// step is given as a ratio to a copy of the same bytes measured in the same run.
//   bench_robustness [--chain N] [--steps N]
#include "probes.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double resident_mb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * 4096 / (1 << 20);
}

void lazy_chain(int steps) {
  auto t0 = std::chrono::steady_clock::now();
  kiln::Tensor x = kiln::tensor({1.f, 2.f, 3.f, 4.f});
  kiln::Tensor acc = kiln::zeros({4});
  for (int i = 0; i < steps; ++i) acc = acc + x * 0.5;
  double trace = seconds_since(t0);
  float sum = acc.sum().item<float>();
  std::printf("lazy chain of %d steps: traced in %.2f s (auto-realized every 4,096), total %.2f s, "
              "sum %.0f (exact %.0f)\n",
              steps, trace, seconds_since(t0), sum, 5.0 * steps);
}

void update_loop(int steps) {
  const int64_t n = 10'000'000;
  kiln::Tensor p = kiln::rand({n});
  p.realize();
  std::vector<double> times;
  double rss10 = 0, rss_last = 0;
  for (int s = 1; s <= steps; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    p = p * 0.999 + 0.001;
    p.realize();
    times.push_back(seconds_since(t0));
    if (s == 10) rss10 = resident_mb();
  }
  rss_last = resident_mb(); // before the probe allocates its own arrays
  std::sort(times.begin(), times.end());
  double step_ms = times[times.size() / 2] * 1e3;
  double copy_ms = 2.0 * n * sizeof(float) / (bench::copy_gbs(5) * 1e9) * 1e3;
  std::printf("p = p * 0.999 + 0.001 over [10M], %d steps: resident %.0f MB after step 10, %.0f MB "
              "after step %d; median step %.2f ms = %.2fx a copy of its bytes (%.2f ms)\n",
              steps, rss10, rss_last, steps, step_ms, step_ms / copy_ms, copy_ms);
}

void long_sum() {
  const int64_t n = 100'000'000;
  double got = kiln::full({n}, 0.1).sum().item<float>();
  double exact = static_cast<double>(0.1f) * n;
  std::printf("sum of 1e8 x 0.1f: %.1f, relative error %.2e\n", got,
              std::fabs(got - exact) / exact);
}

} // namespace

int main(int argc, char** argv) {
  int chain = 1'000'000, steps = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--chain")
      chain = std::atoi(argv[i + 1]);
    else if (a == "--steps")
      steps = std::atoi(argv[i + 1]);
  }
  lazy_chain(chain);
  update_loop(steps);
  long_sum();
}
