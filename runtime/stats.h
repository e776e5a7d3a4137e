// Process-wide counters of the compiler and runtime, for users and tests ("compiled once?").
#pragma once
#include <cstdint>
#include <string>

namespace kiln {

struct Stats {
  int64_t programs_compiled = 0;
  // Programs for a new size of a structure that ran at other sizes, all of whose kernels had
  // been compiled for every size (runtime/size_family.h): none compiled, none counted above.
  int64_t programs_resized = 0;
  int64_t program_cache_hits = 0;
  int64_t kernels_compiled = 0;
  int64_t kernel_cache_hits = 0;
  int64_t kernels_launched = 0;
  // Disk kernel cache (runtime/disk_cache.h). A hit loads native code: it is not counted in
  // kernels_compiled, its load time is in compile_seconds.
  int64_t disk_cache_hits = 0;
  int64_t disk_cache_misses = 0;      // looked up, then compiled
  int64_t disk_cache_writes = 0;      // entries written
  int64_t disk_cache_evictions = 0;   // least recently used entries removed to stay in bounds
  int64_t disk_cache_bad_entries = 0; // truncated, corrupt or foreign entries removed
  double compile_seconds = 0; // passes + lowering + LLVM (or disk-cache loads), over all programs
  // Memory plan: bytes of intermediates and outputs live at once, at worst, in the last program
  // run (its inputs excluded); intermediates are freed after their last reader.
  int64_t last_program_peak_bytes = 0;
  std::string str() const;
};

Stats stats();
void reset_stats();
Stats& mutable_stats(); // runtime-internal

} // namespace kiln
