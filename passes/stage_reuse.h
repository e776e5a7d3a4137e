// Cross-stage reuse: a later stage of a kernel often recomputes a value that an earlier stage
// over the same loops already computed (softmax evaluates exp(x - max) in its sum stage and
// again in the stage that writes the row). A backend keeps such a value in a per-thread buffer
// of one stage's iterations instead: the earlier stage stores it, later stages load it.
#pragma once
#include "ir/kernel.h"

#include <vector>

namespace kiln {

struct StageReuse {
  int inst;                  // the value to keep, computed inside stage `stage`'s loops
  int stage;                 // the earliest stage that computes it
  std::vector<int> replaces; // instructions of later stages that load it instead
};

// Reuse pays when recomputing costs more than a store and a load from cache: only values
// built from expensive ops (exp, log, tanh, ...) are kept, and only while the buffers stay
// small (`max_bytes` in all, per thread).
std::vector<StageReuse> find_stage_reuse(const Kernel& k, int64_t max_bytes = 128 << 10);

} // namespace kiln
