// KILN_PROFILE: per-kernel timing table at exit (=1), or a Chrome-trace JSON file (=path).
#pragma once
#include "passes/fusion_view.h"

#include <string>

namespace kiln::profile {

bool enabled();
// Tests and tools switch it on from C++; "" = off, "1" = table at exit, else a trace path.
void configure(const std::string& mode);

// A kernel of a newly compiled program: its fused ops and source lines (from its fusion group),
// the compile (or kernel-cache lookup) time, and whether the kernel cache already had it.
void kernel_compiled(const FusionGroup& g, double start_s, double seconds, bool cache_hit);
// One launch: the kernel, when it started, how long, and the bytes of its buffers.
void kernel_launched(const Kernel& k, double start_s, double seconds, int64_t bytes);
// Seconds since the profile began (event timestamps).
double now();

std::string table();      // the per-kernel table, slowest total first
std::string trace_json(); // Chrome trace / Perfetto JSON: one event per launch and per compile
void reset();

} // namespace kiln::profile
