// bench_fusion: the workloads of shared/bench/WORKLOADS.md, each run fused and unfused (one
// kernel per primitive op) through the same codegen, interleaved in one process, beside the
// physical limits measured in the same run (memory bandwidth probes, OpenBLAS sgemm).
//
//   bench_fusion [--reps N] [--threads N] [--only W1,W2] [--cold] [--json F] [--csv F] [--svg F]
//
// --cold: an empty disk kernel cache, so the "cold ms" column is a compile from scratch (the bar
// of issue 10: the W4 step under 1 s) and not a load of objects an earlier run left there.
#include "probes.h"
#include "report.h"
#include "sgemm_probe.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <thread>
#include <vector>

namespace {

using kiln::Tensor;

Tensor softmax(const Tensor& x) {
  auto e = (x - x.max({-1}, true)).exp();
  return e / e.sum({-1}, true);
}

Tensor layernorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  auto mu = x.mean({-1}, true);
  auto d = x - mu;
  auto var = (d * d).mean({-1}, true);
  return d * (var + eps).rsqrt() * w + b;
}

struct Workload {
  std::string id, what;
  double amount;                // minimum bytes moved, or flops
  bool compute;                 // GFLOP/s against sgemm, else GB/s against bandwidth
  std::function<Tensor()> step; // traces one step; the caller realizes it
  int threads = 0;              // kiln's and the probe's thread count; 0: the run's
  // A row over a symbolic size instead of fused against unfused: `sized(n)` traces the step
  // over n rows; the program compiled for every size (fit at two smaller sizes first) runs
  // against the concrete program, both at `size` rows.
  std::function<Tensor(int64_t)> sized = nullptr;
  int64_t size = 0;
};

struct Options {
  int reps = 10, threads = 0;
  std::string only, json, csv, svg;
  bool cold = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--reps")
      o.reps = std::max(1, std::stoi(value()));
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--only")
      o.only = value();
    else if (a == "--cold")
      o.cold = true;
    else if (a == "--json")
      o.json = value();
    else if (a == "--csv")
      o.csv = value();
    else if (a == "--svg")
      o.svg = value();
    else {
      fmt::print("usage: bench_fusion [--reps N] [--threads N] [--only W1,W2,...] [--cold] "
                 "[--json FILE] [--csv FILE] [--svg FILE]\n");
      std::exit(a == "--help" || a == "-h" ? 0 : 2);
    }
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs a workload fused and unfused (or symbolic and concrete), alternating every iteration
// with one run of the probe of its limit (the copy or sgemm), so that machine noise hits all
// three alike.
std::vector<bench::Row> measure(const Workload& w, int reps) {
  const int run_threads = kiln::num_threads();
  if (w.threads > 0) kiln::set_num_threads(w.threads);
  const bool sized = w.sized != nullptr;
  const char* modes[] = {sized ? "symbolic" : "fused", sized ? "concrete" : "unfused"};
  auto set_mode = [&](const char* m) {
    if (sized)
      kiln::options().dynamic = m == modes[0];
    else
      kiln::options().fusion = m == modes[0];
  };
  auto step = [&] { return sized ? w.sized(w.size) : w.step(); };
  std::map<std::string, bench::Row> rows;
  std::map<std::string, std::vector<double>> times;
  for (const char* m : modes) {
    set_mode(m);
    if (sized && m == modes[0])
      for (int64_t n : {w.size / 2, w.size / 3}) w.sized(n).realize();
    bench::Row r;
    r.id = w.id, r.what = w.what, r.mode = m;
    auto s0 = kiln::stats();
    step().realize(); // cold: compiles (or loads from the disk cache)
    auto s1 = kiln::stats();
    step().realize(); // warm: the program cache
    auto s2 = kiln::stats();
    r.compile_cold_ms = (s1.compile_seconds - s0.compile_seconds) * 1e3;
    r.compile_warm_ms = (s2.compile_seconds - s1.compile_seconds) * 1e3;
    r.kernels = static_cast<double>(s2.kernels_launched - s1.kernels_launched);
    rows[m] = r;
  }
  std::vector<double> limits;
  for (int i = 0; i < reps + 2; ++i) { // two more warm-ups each, then the timed runs
    // Which mode runs first alternates, so that neither always follows the probe.
    for (const char* m : i % 2 ? std::vector<const char*>{modes[1], modes[0]}
                               : std::vector<const char*>{modes[0], modes[1]}) {
      set_mode(m);
      auto t0 = std::chrono::steady_clock::now();
      step().realize();
      if (i >= 2) times[m].push_back(seconds_since(t0));
    }
    if (i >= 2 && w.compute) {
      limits.push_back(bench::sgemm_gflops(1024, 1));
      // OpenBLAS's threads spin for ~0.1 s after a call, taking a core from the next run.
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    } else if (i >= 2) {
      limits.push_back(bench::copy_gbs(1));
    }
  }
  kiln::options().fusion = kiln::options().dynamic = true;
  kiln::set_num_threads(run_threads);
  std::sort(limits.begin(), limits.end());
  std::vector<bench::Row> out;
  for (const char* m : modes) {
    auto& t = times[m];
    std::sort(t.begin(), t.end());
    bench::Row& r = rows[m];
    r.ms = t[t.size() / 2] * 1e3;
    r.unit = w.compute ? "GFLOP/s" : "GB/s";
    r.achieved = w.amount / (r.ms * 1e-3) / 1e9;
    r.limit = limits[limits.size() / 2];
  }
  rows[modes[0]].speedup = rows[modes[1]].ms / rows[modes[0]].ms;
  return {rows[modes[0]], rows[modes[1]]};
}

} // namespace

int main(int argc, char** argv) {
  if (bench::serve_sgemm_probe(argc, argv)) return 0;
  Options opt = parse(argc, argv);
  std::string cold_dir;
  if (opt.cold) { // before kiln reads KILN_CACHE_DIR, at its first compile
    char dir[] = "/tmp/kiln_bench_cold.XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("--cold: cannot create a temporary directory");
    cold_dir = dir;
    setenv("KILN_CACHE_DIR", dir, 1);
  }
  if (opt.threads > 0) kiln::set_num_threads(opt.threads);
  kiln::manual_seed(0);

  const int64_t n1 = 16777216, rows = 8192, cols = 1024;
  Tensor x1 = kiln::randn({n1}), a1 = kiln::randn({n1}), b1 = kiln::randn({n1});
  Tensor x2 = kiln::randn({rows, cols}), w3 = kiln::randn({cols}), b3 = kiln::randn({cols});
  Tensor m1a = kiln::randn({1024, 1024}), m1b = kiln::randn({1024, 1024});
  Tensor m2a = kiln::randn({2048, 2048}), m2b = kiln::randn({2048, 2048});
  Tensor q = kiln::randn({8, 8, 256, 64}), k = kiln::randn({8, 8, 256, 64}),
         v = kiln::randn({8, 8, 256, 64});
  // W6-causal: a small decoder's causal multi-head attention (char-level transformer sample).
  Tensor sq = kiln::randn({12, 4, 64, 32}), sk = kiln::randn({12, 4, 64, 32}),
         sv = kiln::randn({12, 4, 64, 32});
  Tensor causal = kiln::arange(0, 64).reshape({1, 64}) > kiln::arange(0, 64).reshape({64, 1});
  causal.realize();
  auto causal_attention = [&] {
    Tensor s = kiln::masked_fill(kiln::matmul(sq, sk.transpose(-1, -2)) / std::sqrt(32.0), causal,
                                 -INFINITY);
    return kiln::matmul(softmax(s), sv);
  };
  // W4: one MLP training step (forward, mean cross-entropy, backward, SGD update of every
  // parameter), one program per step; the loss it returns is already realized.
  const int64_t mlp_batch = 256;
  auto mlp = std::make_shared<kiln::nn::Sequential>(
      std::initializer_list<std::shared_ptr<kiln::nn::Module>>{
          std::make_shared<kiln::nn::Linear>(784, 1024), std::make_shared<kiln::nn::ReLU>(),
          std::make_shared<kiln::nn::Linear>(1024, 1024), std::make_shared<kiln::nn::ReLU>(),
          std::make_shared<kiln::nn::Linear>(1024, 10)});
  kiln::optim::SGD sgd(mlp->parameters(), {.lr = 0.01});
  Tensor mlp_x = kiln::randn({mlp_batch, 784}), mlp_y = kiln::randint(0, 10, {mlp_batch});
  auto train_step = [&] {
    Tensor loss = kiln::nn::functional::cross_entropy((*mlp)(mlp_x), mlp_y);
    loss.backward();
    sgd.step();
    sgd.zero_grad();
    return loss;
  };
  const double mlp_flops = 2.0 * 3 * mlp_batch * (784 * 1024 + 1024 * 1024 + 1024 * 10);
  // W7: conv2d 3x3 pad 1 + bias + relu (one packed GEMM reading the padded input's windows).
  Tensor cx = kiln::randn({32, 64, 56, 56}), cw = kiln::randn({64, 64, 3, 3}),
         cb = kiln::randn({64});
  const double conv_flops = 2.0 * 32 * 64 * 64 * 9 * 56 * 56;
  // W7-bwd: W7's forward and backward of the sum of its output, the gradients of the input and
  // the weight realized together (three convolutions' worth of products).
  Tensor bx = kiln::randn({32, 64, 56, 56}), bw = kiln::randn({64, 64, 3, 3});
  bx.requires_grad_();
  bw.requires_grad_();
  auto conv_backward = [&] {
    Tensor y = kiln::nn::functional::conv2d(bx, bw, cb, 1, 1).relu().sum();
    auto g = kiln::autograd::grad({y}, {bx, bw});
    kiln::realize(g);
    return g[0];
  };
  // Gated MLP of current language models: silu(h @ W1) * (h @ W3).
  Tensor gh = kiln::randn({2048, 1024}), gw1 = kiln::randn({1024, 2816}) * 0.03,
         gw3 = kiln::randn({1024, 2816}) * 0.03;
  const double gated_flops = 2.0 * 2 * 2048 * 1024 * 2816;
  // A linear layer's forward at a training shape: matmul + bias + ReLU.
  Tensor lx = kiln::randn({256, 1024}), lw = kiln::randn({1024, 1024}), lb = kiln::randn({1024});
  const double f4 = 4.0;
  std::vector<Workload> loads = {
      {"W1", "gelu_tanh(x*a+b) [16M]", 4 * n1 * f4, false,
       [&] { return (x1 * a1 + b1).gelu("tanh"); }},
      {"W2", "softmax [8192,1024]", 2 * rows * cols * f4, false, [&] { return softmax(x2); }},
      {"W3", "layernorm [8192,1024]", 2 * rows * cols * f4, false,
       [&] { return layernorm(x2, w3, b3, 1e-5); }},
      // W1-W3 over a symbolic row count, at 8 rows (of 8192) fewer than the concrete rows.
      {"W1-sym", "W1 over n symbolic [16M-8]", 4 * (n1 - 8) * f4, false, nullptr, 0,
       [&](int64_t n) {
         return (x1.slice(0, 0, n) * a1.slice(0, 0, n) + b1.slice(0, 0, n)).gelu("tanh");
       },
       n1 - 8},
      {"W2-sym", "W2 over rows symbolic [8184,1024]", 2 * (rows - 8) * cols * f4, false, nullptr, 0,
       [&](int64_t n) { return softmax(x2.slice(0, 0, n)); }, rows - 8},
      {"W3-sym", "W3 over rows symbolic [8184,1024]", 2 * (rows - 8) * cols * f4, false, nullptr, 0,
       [&](int64_t n) { return layernorm(x2.slice(0, 0, n), w3, b3, 1e-5); }, rows - 8},
      {"W4", "MLP train step 784-1024-1024-10 [256]", mlp_flops, true, train_step},
      {"W5-1024", "matmul 1024^3", 2.0 * 1024 * 1024 * 1024, true,
       [&] { return kiln::matmul(m1a, m1b); }},
      {"W5-2048", "matmul 2048^3", 2.0 * 2048 * 2048 * 2048, true,
       [&] { return kiln::matmul(m2a, m2b); }},
      {"W5-1024-1t", "matmul 1024^3, 1 thread", 2.0 * 1024 * 1024 * 1024, true,
       [&] { return kiln::matmul(m1a, m1b); }, 1},
      {"W5-2048-1t", "matmul 2048^3, 1 thread", 2.0 * 2048 * 2048 * 2048, true,
       [&] { return kiln::matmul(m2a, m2b); }, 1},
      {"W6", "attention [8,8,256,64]", 2.0 * 2 * 64 * 256 * 256 * 64, true,
       [&] { return kiln::matmul(softmax(kiln::matmul(q, k.transpose(-1, -2)) / 8.0), v); }},
      {"W6-causal", "causal attention [12,4,64,32]", 2.0 * 2 * 48 * 64 * 64 * 32, true,
       causal_attention},
      {"W7", "conv2d 3x3 pad 1 + bias + relu [32,64,56,56]", conv_flops, true,
       [&] { return kiln::nn::functional::conv2d(cx, cw, cb, 1, 1).relu(); }},
      {"W7-bwd", "conv2d 3x3 forward + grad input + grad weight", 3 * conv_flops, true,
       conv_backward},
      {"GMLP", "gated MLP silu(h@W1)*(h@W3) 2048x1024x2816", gated_flops, true,
       [&] {
         Tensor g = kiln::matmul(gh, gw1);
         return g * g.sigmoid() * kiln::matmul(gh, gw3);
       }},
      {"LIN", "matmul + bias + relu 256x1024x1024", 2.0 * 256 * 1024 * 1024, true,
       [&] { return (kiln::matmul(lx, lw) + lb).relu(); }},
      {"XWT", "x @ W.t() 256x1024x1024 (Linear's product)", 2.0 * 256 * 1024 * 1024, true,
       [&] { return kiln::matmul(lx, lw.transpose(0, 1)); }},
  };

  bench::Limits lim;
  lim.threads = kiln::num_threads();
  lim.reps = opt.reps;
  lim.host = bench::host();
  lim.sgemm_core = bench::start_sgemm_probe();
  lim.fma_peak_gflops = bench::fma_peak_gflops(opt.reps);
  lim.copy_gbs = bench::copy_gbs(opt.reps);
  lim.triad_gbs = bench::triad_gbs(opt.reps);
  lim.read_gbs = bench::read_gbs(opt.reps);
  lim.sgemm_gflops = bench::sgemm_gflops(1024, opt.reps);

  std::vector<bench::Row> results;
  for (auto& w : loads) {
    if (!opt.only.empty() && ("," + opt.only + ",").find("," + w.id + ",") == std::string::npos)
      continue;
    auto r = measure(w, opt.reps);
    results.insert(results.end(), r.begin(), r.end());
  }
  bench::print_table(lim, results);
  if (!opt.json.empty()) bench::write_json(opt.json, lim, results);
  if (!opt.csv.empty()) bench::write_csv(opt.csv, results);
  if (!opt.svg.empty()) bench::write_svg(opt.svg, results);
  fmt::print("\n{}\n", kiln::stats().str());
  if (!cold_dir.empty()) std::filesystem::remove_all(cold_dir);
}
