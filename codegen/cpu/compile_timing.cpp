// Per-kernel compile timing for KILN_DUMP=llvm-time (compile_timing.h).
#include "codegen/cpu/compile_timing.h"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>

namespace kiln::cpu {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void CompileTiming::instrument(llvm::PassInstrumentationCallbacks& pic) {
  pic.registerBeforeNonSkippedPassCallback([this](llvm::StringRef, llvm::Any) {
    open_.push_back({thread_cpu_seconds(), 0.0});
  });
  pic.registerAfterPassCallback([this](llvm::StringRef name, llvm::Any,
                                       const llvm::PreservedAnalyses&) { pass_ended(name); });
  pic.registerAfterPassInvalidatedCallback(
      [this](llvm::StringRef name, const llvm::PreservedAnalyses&) { pass_ended(name); });
}

void CompileTiming::pass_ended(llvm::StringRef name) {
  Open o = open_.back();
  open_.pop_back();
  double took = thread_cpu_seconds() - o.start;
  PassTime& p = passes_[name.str()];
  p.seconds += took - o.nested;
  ++p.runs;
  if (!open_.empty()) open_.back().nested += took;
}

void CompileTiming::phase(const char* name) {
  double now = thread_cpu_seconds();
  phases_.emplace_back(name, now - mark_);
  mark_ = now;
}

void CompileTiming::size(const char* when, const llvm::Module& m) {
  size_t n = 0;
  for (const llvm::Function& f : m) n += f.getInstructionCount();
  sizes_.emplace_back(when, n);
}

std::string CompileTiming::report(size_t top) const {
  double total = 0;
  for (const auto& [name, s] : phases_) total += s;
  std::string out = fmt::format("; {:.1f} ms of CPU:", total * 1e3);
  for (const auto& [name, s] : phases_) out += fmt::format(" {} {:.1f}", name, s * 1e3);
  out += "\n; LLVM instructions:";
  for (const auto& [when, n] : sizes_) out += fmt::format(" {} {}", when, n);
  std::vector<std::pair<std::string, PassTime>> by_time(passes_.begin(), passes_.end());
  std::sort(by_time.begin(), by_time.end(),
            [](const auto& x, const auto& y) { return x.second.seconds > y.second.seconds; });
  out += fmt::format("\n; {:<40} {:>8} {:>5}\n", "pass (own time)", "ms", "runs");
  for (size_t i = 0; i < std::min(top, by_time.size()); ++i)
    out += fmt::format(";   {:<38} {:>8.2f} {:>5}\n", by_time[i].first,
                       by_time[i].second.seconds * 1e3, by_time[i].second.runs);
  return out;
}

} // namespace kiln::cpu
