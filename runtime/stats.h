// Process-wide counters of the compiler and runtime, for users and tests ("compiled once?").
#pragma once
#include <cstdint>
#include <string>

namespace kiln {

struct Stats {
  int64_t programs_compiled = 0;
  int64_t program_cache_hits = 0;
  int64_t kernels_compiled = 0;
  int64_t kernel_cache_hits = 0;
  int64_t kernels_launched = 0;
  double compile_seconds = 0; // passes + lowering + LLVM, over all programs
  std::string str() const;
};

Stats stats();
void reset_stats();
Stats& mutable_stats(); // runtime-internal

} // namespace kiln
