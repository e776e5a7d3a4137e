#include "runtime/stats.h"

#include <fmt/format.h>

namespace kiln {

Stats& mutable_stats() {
  static Stats s;
  return s;
}
Stats stats() { return mutable_stats(); }
void reset_stats() { mutable_stats() = Stats{}; }

std::string Stats::str() const {
  return fmt::format(
      "programs compiled {}, programs resized {}, program-cache hits {}, kernels compiled {}, "
      "kernel-cache hits {}, "
      "disk-cache hits {}, disk-cache misses {}, disk-cache writes {}, disk-cache evictions {}, "
      "disk-cache bad entries {}, kernels launched {}, compile time {:.1f} ms, last program peak "
      "{:.1f} MiB",
      programs_compiled, programs_resized, program_cache_hits, kernels_compiled, kernel_cache_hits,
      disk_cache_hits, disk_cache_misses, disk_cache_writes, disk_cache_evictions,
      disk_cache_bad_entries, kernels_launched, compile_seconds * 1e3,
      last_program_peak_bytes / 1048576.0);
}

} // namespace kiln
