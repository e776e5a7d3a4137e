// Test support for symbolic kernels (see sym_kernels.h).
#include "sym_kernels.h"

#include "codegen/interp/interp_backend.h"
#include "passes/attention_match.h"
#include "passes/gemm_match.h"
#include "passes/generalise.h"
#include "passes/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

using namespace kiln;

namespace kt {

Launch make_launch(const Kernel& k, const std::vector<int64_t>& numels, int64_t size,
                   uint32_t seed) {
  Launch l;
  std::mt19937 rng(seed);
  for (size_t a = 0; a < k.args.size(); ++a) {
    size_t n = static_cast<size_t>(numels[a]), es = dtype_size(k.args[a].dtype);
    l.bufs.emplace_back(n * es + 1);
    // NaN bytes: an output element a kernel fails to store differs from the interpreter's.
    if (k.args[a].output) std::memset(l.bufs[a].data(), 0xff, n * es);
    for (size_t e = 0; e < n && !k.args[a].output; ++e) {
      Scalar v = is_float(k.args[a].dtype)
                     ? Scalar::of(k.args[a].dtype, std::normal_distribution<double>()(rng))
                     : Scalar{0, static_cast<int64_t>(rng() % 8)};
      if (k.args[a].dtype == DType::F32) {
        float f = static_cast<float>(v.f);
        std::memcpy(l.bufs[a].data() + e * es, &f, es);
      } else if (k.args[a].dtype == DType::I64) {
        std::memcpy(l.bufs[a].data() + e * es, &v.i, es);
      } else {
        FAIL("test inputs of " << dtype_name(k.args[a].dtype) << " are not written yet");
      }
    }
  }
  // The size for i64 parameters (the graphs here have no others), 0.75 for float ones.
  l.params.assign(k.params.size(), size);
  for (size_t p = 0; p < k.params.size(); ++p) {
    if (k.params[p] == DType::F32) {
      float f = 0.75f;
      std::memcpy(&l.params[p], &f, sizeof f);
    } else {
      REQUIRE(k.params[p] == DType::I64);
    }
  }
  for (auto& b : l.bufs) l.args.push_back(b.data());
  for (auto& p : l.params) l.args.push_back(&p);
  return l;
}

Tensor realized_randn(Shape shape) {
  Tensor t = randn(std::move(shape));
  t.realize();
  return t;
}

Build mlp_step(int64_t in, int64_t hidden, int64_t classes) {
  Tensor w1 = realized_randn({in, hidden}), w2 = realized_randn({hidden, classes});
  w1.requires_grad_();
  w2.requires_grad_();
  return [w1, w2, in, classes](int64_t b) {
    Tensor x = realized_randn({b, in});
    Tensor y = kiln::tensor(std::vector<int64_t>(static_cast<size_t>(b), classes - 1), Shape{b});
    Tensor loss = nn::functional::cross_entropy(x.matmul(w1).relu().matmul(w2), y);
    auto g = autograd::grad({loss}, {w1, w2});
    return std::vector<Tensor>{loss, g[0], g[1]};
  };
}

std::vector<Kernel> lowered(const Build& build, int64_t s) {
  std::vector<Tensor> outs = build(s);
  std::vector<Node*> roots;
  for (auto& t : outs) roots.push_back(t.node().get());
  std::vector<Kernel> ks;
  for (auto& lk : run_pipeline(roots, {}).kernels) ks.push_back(lk.kernel);
  return ks;
}

std::optional<std::vector<Kernel>> generalise_all(const Build& build,
                                                  const std::vector<int64_t>& sizes) {
  std::vector<std::vector<Kernel>> lows;
  for (int64_t s : sizes) lows.push_back(lowered(build, s));
  for (auto& l : lows)
    if (l.size() != lows[0].size()) {
      UNSCOPED_INFO("kernel counts differ: " << l.size() << " vs " << lows[0].size());
      return std::nullopt;
    }
  std::vector<Kernel> out;
  for (size_t i = 0; i < lows[0].size(); ++i) {
    std::vector<SizedKernel> samples;
    for (size_t j = 0; j < sizes.size(); ++j) samples.push_back({sizes[j], &lows[j][i]});
    std::string why;
    auto k = generalise(samples, &why);
    if (!k) {
      UNSCOPED_INFO("kernel " << i << " refused: " << why);
      return std::nullopt;
    }
    out.push_back(*k);
  }
  return out;
}

void check_backend_at(const std::vector<Kernel>& sym, const std::vector<int64_t>& sizes,
                      const Backend& be, double rtol, double atol) {
  const Backend& interp = interp_backend();
  std::vector<std::shared_ptr<const Executable>> exes;
  for (auto& k : sym) exes.push_back(be.compile(k, {}).exe);
  for (int64_t s : sizes)
    for (size_t i = 0; i < sym.size(); ++i) {
      INFO(be.name() << " at size " << s << "\n" << print_kernel(sym[i]));
      Kernel concrete = instantiate(sym[i], s);
      std::vector<int64_t> numels;
      for (auto& a : concrete.args) numels.push_back(a.numel.value());
      Launch want = make_launch(concrete, numels, s, 99 + i);
      Launch got = make_launch(sym[i], numels, s, 99 + i);
      interp.launch(*interp.compile(concrete, {}).exe, want.args.data());
      be.launch(*exes[i], got.args.data());
      for (size_t a = 0; a < sym[i].args.size(); ++a) {
        if (!sym[i].args[a].output) continue;
        if (rtol == 0 || sym[i].args[a].dtype != DType::F32) {
          CHECK(got.bufs[a] == want.bufs[a]);
          continue;
        }
        if (numels[a] == 0) continue; // nothing to compare (and memcpy takes no null pointers)
        std::vector<float> g(numels[a]), w(numels[a]);
        std::memcpy(g.data(), got.bufs[a].data(), g.size() * sizeof(float));
        std::memcpy(w.data(), want.bufs[a].data(), w.size() * sizeof(float));
        int64_t bad = 0;
        for (size_t e = 0; e < g.size(); ++e) bad += !values_close(g[e], w[e], rtol, atol);
        CHECK(bad == 0);
      }
    }
}

namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

} // namespace

void time_against_concrete(const std::string& name, const Build& build, const Kernel& sym,
                           const std::vector<int64_t>& sizes) {
  const Backend& llvm = backend_for(Device::cpu(), "llvm");
  auto compile = [&](const Kernel& k, double& ms) {
    auto t0 = std::chrono::steady_clock::now();
    auto exe = llvm.compile(k, {}).exe;
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return exe;
  };
  auto ms = [&](const Executable& e, Launch& l) {
    auto t0 = std::chrono::steady_clock::now();
    llvm.launch(e, l.args.data());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  const int reps = 201;
  double compile_s = 0, compile_c = 0;
  auto es = compile(sym, compile_s);
  const char* path = match_gemm(sym)               ? "(packed)"
                     : match_attention_kernel(sym) ? "(attention)"
                                                   : "(stages)";
  for (int64_t size : sizes) {
    Kernel concrete = lowered(build, size).at(0);
    REQUIRE(instantiate(sym, size) == concrete);
    std::vector<int64_t> numels;
    for (auto& a : concrete.args) numels.push_back(a.numel.value());
    Launch ls = make_launch(sym, numels, size, 1), lc = make_launch(concrete, numels, size, 1);
    auto ec = compile(concrete, compile_c);
    std::vector<double> ts, tc;
    for (int r = 0; r < reps + 2; ++r) {
      double s = ms(*es, ls), c = ms(*ec, lc);
      if (r < 2) continue; // warm-up: first touches of buffers and packing scratch
      ts.push_back(s);
      tc.push_back(c);
    }
    std::printf("%-32s size %-4lld symbolic %s %.3f ms, concrete %.3f ms (%d threads, median of "
                "%d); compile %.0f and %.0f ms\n",
                name.c_str(), static_cast<long long>(size), path, median(ts), median(tc),
                num_threads(), reps, compile_s, compile_c);
  }
}

} // namespace kt
