// Names JIT-compiled kernels for Linux perf: with KILN_PERF_MAP=1 each loaded object's functions
// go to /tmp/perf-<pid>.map ("start size name" in hex), which `perf report` reads, so a profile
// shows k_matmul_relu_... and its microkernel instead of bare addresses.
#pragma once
#include <cstdint>
#include <string_view>

namespace kiln::cpu {

bool perf_map_enabled();
// Appends the functions of `object`, loaded with its function `kernel` at `address`. Call under
// the JIT's lock.
void add_to_perf_map(std::string_view kernel, uint64_t address, std::string_view object);

} // namespace kiln::cpu
