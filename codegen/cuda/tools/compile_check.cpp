// kiln_cuda_compile_check [KERNEL_DIR]: emits every distinct kernel as CUDA and compiles it with
// NVRTC for sm_90 — the sweep's kernels (tests/cuda_sweep.cpp) and each kernel-IR file (*.ir)
// in KERNEL_DIR, which the CTest entry fills with the op and fusion tests' kernels
// (KILN_DUMP=kernels). Kernels are deduplicated by their CUDA text (the entry name aside).
// Exit 1 when a kernel does not emit or compile, or when ptxas reports a spill; prints how many
// kernels it compiled, per strategy with the most registers one used.
#include "codegen/cuda/cuda_emit.h"
#include "codegen/cuda/nvrtc_compile.h"
#include "cuda_sweep.h"
#include "ir/error.h"
#include "ir/kernel_parser.h"
#include "passes/pipeline.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

struct Job {
  std::string origin; // sweep case or dump file
  Kernel kernel;
};

std::vector<Job> sweep_jobs() {
  std::vector<Job> jobs;
  for (auto& c : cuda_sweep::cases()) {
    std::vector<Node*> roots;
    for (auto& t : c.outputs) roots.push_back(t.node().get());
    for (auto& lk : run_pipeline(roots, {}).kernels) jobs.push_back({c.name, lk.kernel});
  }
  return jobs;
}

std::vector<Job> dumped_jobs(const fs::path& dir) {
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".ir") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Job> jobs;
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    jobs.push_back({f.filename().string(), parse_kernel(text.str(), f.filename().string())});
  }
  return jobs;
}

bool is_attention(const Kernel& k) {
  return std::any_of(k.insts.begin(), k.insts.end(),
                     [](const KInst& in) { return in.op == Op::SoftmaxSum; });
}

struct Tally {
  int compiled = 0, max_registers = 0;
};

} // namespace

int main(int argc, char** argv) try {
  if (argc > 2) {
    fmt::print(stderr, "usage: kiln_cuda_compile_check [KERNEL_DIR]\n");
    return 2;
  }
  std::vector<Job> jobs = sweep_jobs();
  size_t from_sweep = jobs.size();
  if (argc == 2) {
    if (!fs::is_directory(argv[1]))
      fail("kiln_cuda_compile_check", "{} is not a folder of kernel-IR files", argv[1]);
    for (Job& j : dumped_jobs(argv[1])) jobs.push_back(std::move(j));
  }
  // Emit all, keep one job per distinct source: NVRTC is the slow part (~0.1 s a kernel).
  std::map<std::string, size_t> distinct; // source with the entry renamed -> job
  std::vector<cuda::CudaKernel> emitted(jobs.size());
  std::vector<std::string> problems;
  int attention = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (is_attention(jobs[i].kernel)) { // no CUDA lowering for softmax_sum yet (cuda_emit.cpp)
      ++attention;
      continue;
    }
    try {
      emitted[i] = cuda::emit_cuda(jobs[i].kernel);
    } catch (const Error& e) {
      problems.push_back(fmt::format("{}: {}\n{}", jobs[i].origin, e.what(),
                                     print_kernel(jobs[i].kernel)));
      continue;
    }
    std::string key = emitted[i].source;
    for (size_t at; (at = key.find(emitted[i].plan.entry)) != std::string::npos;)
      key.replace(at, emitted[i].plan.entry.size(), "kernel");
    distinct.emplace(std::move(key), i);
  }
  std::vector<size_t> todo;
  for (auto& [key, i] : distinct) todo.push_back(i);

  std::mutex mu;
  std::map<cuda::Strategy, Tally> tally;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t t; (t = next++) < todo.size();) {
      const Job& job = jobs[todo[t]];
      const cuda::CudaKernel& ck = emitted[todo[t]];
      std::string problem;
      cuda::CompiledCubin cub;
      try {
        cub = cuda::nvrtc_compile(ck.source, ck.plan.entry, "sm_90");
        if (cub.cubin.empty() || cub.registers <= 0)
          problem = "no CUBIN or no ptxas report:\n" + cub.log;
        else if (cub.spill_stores || cub.spill_loads)
          problem = fmt::format("spills ({} bytes stored, {} loaded):\n{}", cub.spill_stores,
                                cub.spill_loads, cub.log);
      } catch (const Error& e) {
        problem = e.what();
      }
      std::lock_guard lock(mu);
      if (!problem.empty()) {
        problems.push_back(fmt::format("{} ({}, {}): {}\n{}", ck.plan.entry, job.origin,
                                       cuda::strategy_name(ck.plan.strategy), problem,
                                       print_kernel(job.kernel)));
        continue;
      }
      Tally& tl = tally[ck.plan.strategy];
      ++tl.compiled;
      tl.max_registers = std::max(tl.max_registers, cub.registers);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned w = 0; w < std::max(1u, std::thread::hardware_concurrency()); ++w)
    pool.emplace_back(worker);
  for (auto& th : pool) th.join();

  for (const std::string& p : problems) fmt::print(stderr, "FAIL {}\n", p);
  int compiled = 0;
  std::string summary;
  for (auto& [st, tl] : tally) {
    compiled += tl.compiled;
    summary += fmt::format(" {} {} (max {} registers);", cuda::strategy_name(st), tl.compiled,
                           tl.max_registers);
  }
  fmt::print("NVRTC {} compiled {} distinct CUDA kernels for sm_90 without spills (of {} kernels: "
             "{} from the sweep, {} from the tests' dumps; {} attention kernels have no CUDA "
             "lowering yet):{}\n",
             cuda::nvrtc_version(), compiled, jobs.size(), from_sweep, jobs.size() - from_sweep,
             attention, summary);
  if (!problems.empty()) fmt::print("{} kernels FAILED\n", problems.size());
  return problems.empty() ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "kiln_cuda_compile_check: {}\n", e.what());
  return 1;
}
