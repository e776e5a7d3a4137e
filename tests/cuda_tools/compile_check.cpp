// kiln_cuda_compile_check [KERNEL_DIR]: emits every distinct kernel as CUDA and compiles it with
// NVRTC for sm_90 — the sweep's kernels (tests/cuda_sweep.cpp) and each kernel-IR file (*.ir)
// in KERNEL_DIR, which the CTest entry fills with the op and fusion tests' kernels
// (KILN_DUMP=kernels). Kernels are deduplicated by their CUDA text (the entry name aside) and
// compiled in batches, one NVRTC program for several kernels.
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

// Kernels per NVRTC program: NVRTC's fixed cost a program is about what compiling one small
// kernel costs (the sweep: 67 s alone, 25 s in batches of 24, on 2 busy cores).
constexpr size_t kBatch = 24;

std::string member_entry(size_t i) { return fmt::format("kiln_check_{}", i); }

// Kernel i in a namespace of its own (its prelude and functors) under an entry name unique in
// its batch.
std::string batch_member(const cuda::CudaKernel& ck, size_t i) {
  std::string src = ck.source;
  for (size_t at; (at = src.find(ck.plan.entry)) != std::string::npos;)
    src.replace(at, ck.plan.entry.size(), member_entry(i));
  return fmt::format("namespace kiln_check_ns{} {{\n{}}}\n", i, src);
}

// ptxas's -v report of each entry function in an NVRTC log.
std::map<std::string, cuda::CompiledCubin> entry_reports(const std::string& log) {
  std::map<std::string, cuda::CompiledCubin> out;
  const std::string mark = "Compiling entry function '";
  for (size_t at = log.find(mark); at != std::string::npos;) {
    size_t name = at + mark.size(), next = log.find(mark, name);
    std::string chunk = log.substr(name, next == std::string::npos ? next : next - name);
    cuda::parse_ptxas_report(chunk, out[chunk.substr(0, chunk.find('\''))]);
    at = next;
  }
  return out;
}

std::string problem_of(const cuda::CompiledCubin& report, const std::string& log) {
  if (report.registers <= 0) return "no ptxas report for the kernel:\n" + log;
  if (report.spill_stores || report.spill_loads)
    return fmt::format("spills ({} bytes stored, {} loaded)", report.spill_stores,
                       report.spill_loads);
  return "";
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
  for (size_t i = 0; i < jobs.size(); ++i) {
    try {
      emitted[i] = cuda::emit_cuda(jobs[i].kernel);
    } catch (const Error& e) {
      problems.push_back(
          fmt::format("{}: {}\n{}", jobs[i].origin, e.what(), print_kernel(jobs[i].kernel)));
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
  auto record = [&](size_t i, const std::string& problem, int registers) {
    std::lock_guard lock(mu);
    const cuda::CudaKernel& ck = emitted[i];
    if (!problem.empty()) {
      problems.push_back(fmt::format("{} ({}, {}): {}\n{}", ck.plan.entry, jobs[i].origin,
                                     cuda::strategy_name(ck.plan.strategy), problem,
                                     print_kernel(jobs[i].kernel)));
      return;
    }
    Tally& tl = tally[ck.plan.strategy];
    ++tl.compiled;
    tl.max_registers = std::max(tl.max_registers, registers);
  };
  // A batch that fails compiles again kernel by kernel, so the error names the kernel.
  auto compile_alone = [&](size_t i) {
    try {
      cuda::CompiledCubin cub = cuda::nvrtc_compile(emitted[i].source, emitted[i].plan.entry);
      record(i, problem_of(cub, cub.log), cub.registers);
    } catch (const Error& e) {
      record(i, e.what(), 0);
    }
  };
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t b; (b = next++ * kBatch) < todo.size();) {
      std::vector<size_t> batch(todo.begin() + b, todo.begin() + std::min(b + kBatch, todo.size()));
      std::string source;
      for (size_t i : batch) source += batch_member(emitted[i], i);
      cuda::CompiledCubin cub;
      try {
        cub = cuda::nvrtc_compile(source, fmt::format("batch{}", b / kBatch));
      } catch (const Error&) {
        for (size_t i : batch) compile_alone(i);
        continue;
      }
      auto reports = entry_reports(cub.log);
      for (size_t i : batch) {
        const cuda::CompiledCubin& r = reports[member_entry(i)];
        record(i, problem_of(r, cub.log), r.registers);
      }
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
             "{} from the sweep, {} from the tests' dumps):{}\n",
             cuda::nvrtc_version(), compiled, jobs.size(), from_sweep, jobs.size() - from_sweep,
             summary);
  if (!problems.empty()) fmt::print("{} kernels FAILED\n", problems.size());
  return problems.empty() ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "kiln_cuda_compile_check: {}\n", e.what());
  return 1;
}
