// Runtime controls and counters visible to users: kiln::stats(), kiln::set_num_threads(),
// kiln::options() (fusion on/off, dumps), kiln::cuda::is_available().
#pragma once
#include "codegen/host/thread_pool.h"
#include "runtime/config.h"
#include "runtime/stats.h"

namespace kiln::cuda {
// Whether this kiln can run on a CUDA GPU here (built with CUDA, a driver, at least one GPU).
// Never throws.
bool is_available();
int device_count(); // 0 when not available
} // namespace kiln::cuda
