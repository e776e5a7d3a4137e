#include "runtime/profile.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <map>
#include <mutex>

namespace kiln::profile {
namespace {

struct KernelRow {
  std::string ops;                  // fused compute ops, in graph order
  std::vector<std::string> origins; // the user's source lines it fused
  int64_t launches = 0, bytes = 0, compiles = 0, cache_hits = 0;
  double seconds = 0, compile_seconds = 0;
};

struct Event {
  std::string name, cat;
  double start, dur;
  int64_t bytes;
};

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += c;
  }
  return out;
}

struct State;
std::string table_of(State& s);
std::string trace_of(State& s);

struct State {
  std::mutex mu;
  std::string mode;
  std::map<std::string, KernelRow> rows;
  std::vector<Event> events;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

  State() {
    if (const char* s = std::getenv("KILN_PROFILE"); s && std::string(s) != "0") mode = s;
  }
  // At exit: the report the environment asked for.
  ~State() {
    if (mode.empty() || (rows.empty() && events.empty())) return;
    if (mode == "1") {
      fmt::print(stderr, "{}", table_of(*this));
      return;
    }
    std::ofstream out(mode, std::ios::binary);
    out << trace_of(*this);
    out.close();
    if (!out) // it said "written" when the path could not be opened
      fmt::print(stderr, "kiln: warning: cannot write the profile trace to {}: {}\n", mode,
                 std::strerror(errno));
    else
      fmt::print(stderr, "kiln: profile trace written to {} ({} events)\n", mode, events.size());
  }
};

State& state() {
  static State s;
  return s;
}

} // namespace

bool enabled() { return !state().mode.empty(); }

void configure(const std::string& mode) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().mode = mode == "0" ? "" : mode;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - state().t0).count();
}

void kernel_compiled(const FusionGroup& g, double start_s, double seconds, bool cache_hit) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  KernelRow& r = s.rows[g.kernel->name];
  if (r.ops.empty()) {
    std::vector<std::string> ops;
    for (Node* n : g.nodes)
      if (is_compute(n->op)) ops.emplace_back(op_name(n->op));
    r.ops =
        ops.empty() ? "(copy)" : fmt::format("{}", fmt::join(ops, " ")); // a view made contiguous
  }
  for (std::string& o : group_origins(g))
    if (std::find(r.origins.begin(), r.origins.end(), o) == r.origins.end()) r.origins.push_back(o);
  (cache_hit ? r.cache_hits : r.compiles) += 1;
  r.compile_seconds += seconds;
  s.events.push_back(
      {g.kernel->name, cache_hit ? "compile (cache hit)" : "compile", start_s, seconds, 0});
}

void kernel_launched(const Kernel& k, double start_s, double seconds, int64_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  KernelRow& r = s.rows[k.name];
  ++r.launches;
  r.seconds += seconds;
  r.bytes += bytes;
  s.events.push_back({k.name, "launch", start_s, seconds, bytes});
}

namespace {
std::string table_of(State& s) {
  std::vector<std::pair<std::string, KernelRow>> rows(s.rows.begin(), s.rows.end());
  std::sort(rows.begin(), rows.end(),
            [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
  std::string out = fmt::format(
      "kiln profile: {} kernels\n{:<36} {:>8} {:>11} {:>10} {:>11} {:>8} {:>11} {:>6}  {}\n",
      rows.size(), "kernel", "launches", "total ms", "mean us", "MB moved", "GB/s", "compile ms",
      "hits", "fused ops / source lines");
  for (auto& [name, r] : rows) {
    double gbs = r.seconds > 0 ? r.bytes / r.seconds / 1e9 : 0;
    out += fmt::format("{:<36} {:>8} {:>11.3f} {:>10.1f} {:>11.2f} {:>8.2f} {:>11.2f} {:>6}  {}\n",
                       name, r.launches, r.seconds * 1e3,
                       r.launches ? r.seconds / r.launches * 1e6 : 0, r.bytes / 1e6, gbs,
                       r.compile_seconds * 1e3, r.cache_hits, r.ops);
    for (auto& o : r.origins) out += fmt::format("{:>36}   at {}\n", "", o);
  }
  return out;
}

std::string trace_of(State& s) {
  std::string out = "{\"traceEvents\":[\n";
  for (size_t i = 0; i < s.events.size(); ++i) {
    const Event& e = s.events[i];
    bool launch = e.cat == "launch";
    out += fmt::format("{{\"name\":\"{}\",\"cat\":\"{}\",\"ph\":\"X\",\"pid\":1,\"tid\":{},\"ts\":{"
                       ":.3f},\"dur\":{:.3f},"
                       "\"args\":{{\"bytes\":{}}}}}{}\n",
                       json_escape(e.name), json_escape(e.cat), launch ? 1 : 2, e.start * 1e6,
                       e.dur * 1e6, e.bytes, i + 1 < s.events.size() ? "," : "");
  }
  return out + "],\"displayTimeUnit\":\"ms\"}\n";
}

} // namespace

std::string table() {
  std::lock_guard<std::mutex> lock(state().mu);
  return table_of(state());
}

std::string trace_json() {
  std::lock_guard<std::mutex> lock(state().mu);
  return trace_of(state());
}

void reset() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().rows.clear();
  state().events.clear();
}

} // namespace kiln::profile
