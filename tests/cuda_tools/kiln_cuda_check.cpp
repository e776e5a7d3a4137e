// kiln_cuda_check: runs the sweep's graphs (graph-IR text written by kiln_cuda_sweep) on a GPU —
// kernel IR -> CUDA source -> NVRTC CUBIN -> driver API — and compares every output with the
// reference interpreter. One line per graph, then a PASS/FAIL count; exit 1 on any mismatch,
// 2 when no CUDA driver or GPU is available. Timed workloads (names starting "W") also report
// each kernel's GB/s next to a device-to-device copy. Needs no LLVM.
#include "codegen/cuda/cuda_emit.h"
#include "codegen/cuda/driver_api.h"
#include "codegen/cuda/nvrtc_compile.h"
#include "ir/error.h"
#include "ir/graph_parser.h"
#include "passes/pipeline.h"
#include "passes/schedule.h"
#include "runtime/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

using namespace kiln;

namespace {

struct SweepCase {
  std::string name, text;
};

std::vector<SweepCase> read_sweep(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("kiln_cuda_check", "cannot read the sweep file {}", path);
  std::vector<SweepCase> cs;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("### ", 0) == 0)
      cs.push_back({line.substr(4), ""});
    else if (!cs.empty())
      cs.back().text += line + "\n";
  }
  return cs;
}

struct HostStorage : Storage {
  std::vector<uint64_t> words;
};

// Seeded input data: normal(0,1) floats, small integers, random bools.
StorageFactory random_inputs(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen](DType t, const Shape& s) {
    auto st = std::make_shared<HostStorage>();
    int64_t n = numel(s);
    st->words.resize((static_cast<size_t>(n) * dtype_size(t) + 7) / 8 + 1);
    st->data = st->words.data();
    st->bytes = static_cast<size_t>(n) * dtype_size(t);
    std::normal_distribution<double> normal;
    std::uniform_int_distribution<int> small(-20, 20), byte(0, 255), bit(0, 1);
    dispatch_dtype(t, [&](auto zero) {
      using T = decltype(zero);
      T* p = static_cast<T*>(st->data);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_floating_point_v<T>)
          p[i] = static_cast<T>(normal(*gen));
        else if constexpr (std::is_same_v<T, bool>)
          p[i] = bit(*gen);
        else if constexpr (std::is_same_v<T, uint8_t>)
          p[i] = static_cast<T>(byte(*gen));
        else
          p[i] = static_cast<T>(small(*gen));
      }
    });
    return std::shared_ptr<Storage>(st);
  };
}

// Largest mismatch of got against want, as a tolerance ratio (<= 1 passes); `first` describes
// the first element out of tolerance.
double mismatch(DType t, const void* got, const void* want, int64_t n, std::string& first) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double g = 0, w = 0;
    dispatch_dtype(t, [&](auto zero) {
      using T = decltype(zero);
      g = static_cast<double>(static_cast<const T*>(got)[i]);
      w = static_cast<double>(static_cast<const T*>(want)[i]);
    });
    if (std::isnan(g) && std::isnan(w)) continue;
    if (g == w) continue;
    double rtol = t == DType::F32 ? 2e-4 : 1e-10, atol = t == DType::F32 ? 2e-5 : 1e-12;
    double err = !is_float(t) || std::isnan(g) || std::isnan(w) || std::isinf(g) || std::isinf(w)
                     ? INFINITY
                     : std::fabs(g - w) / (atol + rtol * std::fabs(w));
    if (err > 1 && first.empty())
      first = fmt::format("element {} of {}: got {:.17g}, want {:.17g}", i, n, g, w);
    worst = std::max(worst, err);
  }
  return worst;
}

struct Compiled {
  cuda::CudaKernel kernel;
  cuda::CompiledCubin cubin;
  void* fn = nullptr;
};

struct Runner {
  cuda::Driver& drv;
  std::map<Node*, cuda::DevicePtr> bufs;
  std::vector<Compiled> kernels;

  ~Runner() {
    for (auto& [n, p] : bufs) drv.free(p);
  }
  cuda::DevicePtr buffer(Node* n) {
    auto it = bufs.find(n);
    if (it != bufs.end()) return it->second;
    cuda::DevicePtr p = drv.alloc(n->bytes());
    if (n->realized()) drv.to_device(p, n->storage->data, n->bytes());
    return bufs[n] = p;
  }
  void launch(const LoweredKernel& lk, const Compiled& c) {
    std::vector<cuda::DevicePtr> ptrs;
    std::vector<uint64_t> values(lk.params.size());
    std::vector<void*> args;
    for (Node* n : lk.args) ptrs.push_back(buffer(n));
    for (auto& p : ptrs) args.push_back(&p);
    for (size_t j = 0; j < lk.params.size(); ++j) {
      Node* n = lk.params[j];
      Scalar v = n->get<ConstAttr>().value;
      void* slot = &values[j];
      dispatch_dtype(n->dtype, [&](auto zero) {
        using T = decltype(zero);
        T x = is_float(n->dtype) ? static_cast<T>(v.f) : static_cast<T>(v.i);
        std::memcpy(slot, &x, sizeof x);
      });
      args.push_back(slot);
    }
    drv.launch(c.fn, c.kernel.plan.grid, c.kernel.plan.block, c.kernel.plan.dynamic_shared_bytes,
               args.data(), c.kernel.plan.entry);
  }
};

std::string exe_dir(const char* argv0) {
  std::error_code ec;
  auto p = std::filesystem::canonical("/proc/self/exe", ec);
  return ec ? std::filesystem::path(argv0).parent_path().string() : p.parent_path().string();
}

// Runs one case; returns whether it matched. Prints its line.
bool run_case(cuda::Driver& drv, const SweepCase& c, uint64_t seed, const std::string& arch) {
  auto g = parse_graph(c.text, {.source_name = c.name, .make_storage = random_inputs(seed)});
  std::vector<Node*> roots = g.roots();
  auto want = interpret(roots);
  Schedule s = run_pipeline(roots, {});
  Runner run{drv, {}, {}};
  std::vector<std::string> strategies;
  int max_regs = 0;
  for (auto& lk : s.kernels) {
    Compiled cc;
    cc.kernel = cuda::emit_cuda(lk.kernel);
    cc.cubin = cuda::nvrtc_compile(cc.kernel.source, cc.kernel.plan.entry, arch);
    std::string_view cubin(cc.cubin.cubin.data(), cc.cubin.cubin.size());
    cc.fn = drv.function(drv.load_module(cubin, cc.kernel.plan.entry), cc.kernel.plan.entry);
    max_regs = std::max(max_regs, cc.cubin.registers);
    strategies.emplace_back(cuda::strategy_name(cc.kernel.plan.strategy));
    run.launch(lk, cc);
    run.kernels.push_back(std::move(cc));
  }
  drv.synchronize();
  double worst = 0;
  std::string first; // the first bad element of the first bad output
  for (size_t i = 0; i < s.graph.outputs.size(); ++i) {
    Node* src = storage_source(s.graph.outputs[i].get());
    Node* out = s.graph.outputs[i].get();
    std::vector<char> got(out->bytes() + 8);
    if (src->realized())
      std::memcpy(got.data(), src->storage->data, out->bytes());
    else
      drv.to_host(got.data(), run.buffer(src), out->bytes());
    std::string bad;
    worst = std::max(worst, mismatch(out->dtype, got.data(), want[i]->data, out->numel(), bad));
    if (first.empty() && !bad.empty()) first = fmt::format("output {}, {}", i, bad);
  }
  bool ok = worst <= 1;
  fmt::print("{} {:<40} kernels {} [{}] max regs {} err {:.3g}{}\n", ok ? "PASS" : "FAIL", c.name,
             s.kernels.size(), fmt::join(strategies, ","), max_regs, worst,
             ok ? "" : "; first bad: " + first);
  if (c.name[0] == 'W') { // timed workloads: each kernel alone, median of 10 after 3 warm-ups
    for (size_t k = 0; k < s.kernels.size(); ++k) {
      auto& lk = s.kernels[k];
      double bytes = 0;
      for (Node* n : lk.args) bytes += static_cast<double>(n->bytes());
      std::vector<float> ms;
      for (int it = 0; it < 13; ++it) {
        float t = drv.time_ms([&] { run.launch(lk, run.kernels[k]); });
        if (it >= 3) ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      fmt::print("     time {:<34} {:8.3f} ms {:8.1f} GB/s ({}, block {}, grid {})\n",
                 run.kernels[k].kernel.plan.entry, ms[ms.size() / 2],
                 bytes / (ms[ms.size() / 2] * 1e6),
                 cuda::strategy_name(run.kernels[k].kernel.plan.strategy),
                 run.kernels[k].kernel.plan.block[0], run.kernels[k].kernel.plan.grid[0]);
    }
  }
  return ok;
}

void copy_bandwidth(cuda::Driver& drv) {
  size_t bytes = size_t{256} << 20;
  cuda::DevicePtr a = drv.alloc(bytes), b = drv.alloc(bytes);
  std::vector<float> ms;
  for (int it = 0; it < 13; ++it) {
    float t = drv.time_ms([&] { drv.copy(b, a, bytes); });
    if (it >= 3) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  fmt::print("device copy 256 MiB: {:.3f} ms, {:.1f} GB/s (read + write)\n", ms[ms.size() / 2],
             2.0 * bytes / (ms[ms.size() / 2] * 1e6));
  drv.free(a);
  drv.free(b);
}

} // namespace

// --compile-only: no GPU needed; every kernel through NVRTC for sm_90, with ptxas's figures.
int compile_only(const std::vector<SweepCase>& cases) {
  int kernels = 0, spills = 0, failed = 0;
  for (size_t i = 0; i < cases.size(); ++i) try {
      auto g = parse_graph(cases[i].text, {.source_name = cases[i].name, .make_storage = {}});
      Schedule s = run_pipeline(g.roots(), {});
      for (auto& lk : s.kernels) {
        auto ck = cuda::emit_cuda(lk.kernel);
        auto cub = cuda::nvrtc_compile(ck.source, ck.plan.entry, "sm_90");
        ++kernels;
        spills += cub.spill_stores + cub.spill_loads > 0;
        fmt::print("{:<40} {:<12} regs {:3} spill {}/{} smem {:5}  {}\n", cases[i].name,
                   cuda::strategy_name(ck.plan.strategy), cub.registers, cub.spill_stores,
                   cub.spill_loads, cub.shared_bytes, ck.plan.entry);
      }
    } catch (const Error& e) {
      ++failed;
      fmt::print("FAIL {}: {}\n", cases[i].name, e.what());
    }
  fmt::print(
      "kiln_cuda_check: NVRTC {} compiled {} kernels for sm_90, {} with spills, {} graphs failed\n",
      cuda::nvrtc_version(), kernels, spills, failed);
  return failed ? 1 : 0;
}

int main(int argc, char** argv) {
  bool only_compile = argc > 1 && std::string(argv[1]) == "--compile-only";
  if (only_compile) --argc, ++argv;
  std::string sweep = argc > 1 ? argv[1] : exe_dir(argv[0]) + "/cuda_sweep.txt";
  std::string only = argc > 2 ? argv[2] : "";
  if (only_compile) {
    try {
      return compile_only(read_sweep(sweep));
    } catch (const std::exception& e) {
      fmt::print(stderr, "kiln_cuda_check: {}\n", e.what());
      return 1;
    }
  }
  std::unique_ptr<cuda::Driver> drv;
  try {
    drv = std::make_unique<cuda::Driver>();
  } catch (const Error& e) {
    fmt::print(stderr, "kiln_cuda_check: {}\n", e.what());
    return 2;
  }
  std::string arch = drv->arch();
  fmt::print("device {} ({}), driver {}, NVRTC {}\n", drv->device_name(), arch,
             drv->driver_version(), cuda::nvrtc_version());
  int pass = 0, failed = 0;
  try {
    auto cases = read_sweep(sweep);
    copy_bandwidth(*drv);
    for (size_t i = 0; i < cases.size(); ++i) {
      if (!only.empty() && cases[i].name.find(only) == std::string::npos) continue;
      try {
        (run_case(*drv, cases[i], 1234 + i, arch) ? pass : failed)++;
      } catch (const Error& e) {
        ++failed;
        fmt::print("FAIL {:<40} {}\n", cases[i].name, e.what());
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "kiln_cuda_check: {}\n", e.what());
    return 1;
  }
  fmt::print("kiln_cuda_check: {} PASS, {} FAIL\n", pass, failed);
  return failed ? 1 : 0;
}
