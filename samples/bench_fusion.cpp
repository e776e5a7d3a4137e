// bench_fusion: the memory-bound workloads W1-W3 of shared/bench/WORKLOADS.md, with a memory
// bandwidth probe measured in the same run so every figure is also a ratio to the limit.
//
//   bench_fusion [--reps N] [--threads N] [--only W1,W2,...]
#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of fn over reps timed runs after warmup runs.
double time_median(const std::function<void()>& fn, int reps, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(t);
}

// Bandwidth probe: a multithreaded copy of 128 MiB (bytes read + written), on the same thread
// pool kernels use, into buffers touched beforehand.
double probe_bandwidth(int reps) {
  size_t n = size_t(32) << 20; // floats
  std::vector<float> src(n, 1.0f), dst(n, 0.0f);
  auto copy = [&] {
    kiln::parallel_for(static_cast<int64_t>(n), 1 << 16, [&](int64_t b, int64_t e) {
      std::memcpy(dst.data() + b, src.data() + b, (e - b) * sizeof(float));
    });
  };
  return 2.0 * n * sizeof(float) / time_median(copy, reps);
}

kiln::Tensor softmax(const kiln::Tensor& x) {
  auto e = (x - x.max({-1}, true)).exp();
  return e / e.sum({-1}, true);
}

kiln::Tensor layernorm(const kiln::Tensor& x, const kiln::Tensor& w, const kiln::Tensor& b, double eps) {
  auto mu = x.mean({-1}, true);
  auto d = x - mu;
  auto var = (d * d).mean({-1}, true);
  return d * (var + eps).rsqrt() * w + b;
}

struct Workload {
  std::string id, what;
  double min_bytes;
  std::function<kiln::Tensor()> step; // traces the workload; the caller realizes it
};

} // namespace

int main(int argc, char** argv) {
  int reps = 10;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) kiln::set_num_threads(std::atoi(argv[++i]));
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else {
      fmt::print("usage: bench_fusion [--reps N] [--threads N] [--only W1,W2,W3]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  kiln::manual_seed(0);
  const int64_t n1 = 16777216, rows = 8192, cols = 1024;
  auto x1 = kiln::randn({n1}), a1 = kiln::randn({n1}), b1 = kiln::randn({n1});
  auto x2 = kiln::randn({rows, cols});
  auto w3 = kiln::randn({cols}), b3 = kiln::randn({cols});
  std::vector<Workload> loads = {
      {"W1", "gelu_tanh(x*a+b) [16M]", 4.0 * n1 * 4, [&] { return (x1 * a1 + b1).gelu("tanh"); }},
      {"W2", "softmax [8192,1024]", 2.0 * rows * cols * 4, [&] { return softmax(x2); }},
      {"W3", "layernorm [8192,1024]", 2.0 * rows * cols * 4, [&] { return layernorm(x2, w3, b3, 1e-5); }},
  };

  double bw = probe_bandwidth(reps);
  fmt::print("kiln bench_fusion: {} threads, median of {} runs\n", kiln::num_threads(), reps);
  fmt::print("bandwidth probe (copy, read+write): {:.1f} GB/s\n\n", bw / 1e9);
  fmt::print("{:<4} {:<26} {:>9} {:>8} {:>8} {:>8} {:>11} {:>11}\n", "id", "workload", "ms", "GB/s", "% probe",
             "kernels", "compile ms", "limit ms");
  for (auto& w : loads) {
    if (!only.empty() && only.find(w.id) == std::string::npos) continue;
    auto before = kiln::stats();
    auto cold0 = Clock::now();
    w.step().realize(); // first run: compiles
    double cold_ms = std::chrono::duration<double, std::milli>(Clock::now() - cold0).count();
    auto mid = kiln::stats();
    double t = time_median([&] { w.step().realize(); }, reps);
    auto after = kiln::stats();
    double launches = double(after.kernels_launched - mid.kernels_launched) / (reps + 3);
    double compile_ms = (mid.compile_seconds - before.compile_seconds) * 1e3;
    (void)cold_ms;
    fmt::print("{:<4} {:<26} {:>9.2f} {:>8.1f} {:>7.0f}% {:>8.0f} {:>11.0f} {:>11.2f}\n", w.id, w.what, t * 1e3,
               w.min_bytes / t / 1e9, 100.0 * w.min_bytes / t / bw, launches, compile_ms, w.min_bytes / bw * 1e3);
  }
  fmt::print("\n{}\n", kiln::stats().str());
}
