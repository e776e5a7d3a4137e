// Accurate float sums: a float sum over more than a few thousand elements is rewritten into sums
// of fixed-size blocks, then sums of those partial sums (a tree of fan-out kSumBlock), so that
// no accumulator adds more than a few dozen values: summing 1e8 values loses about as much
// as summing a few thousand. The partial sums of long reductions also spread over threads.
// Adjacent reduced axes sum in groups of inner axes (a batch's rows first, then over the batch)
// rather than in blocks of all their elements, so the kernels of a program whose batch changes
// keep their structure (runtime/size_family.h).
// Long max and min reductions into few outputs (a full max) are blocked alike, for that
// spread alone: one reduction would run on one CPU thread, or one GPU block per output.
#pragma once
#include "passes/rewrite.h"

namespace kiln {

Graph block_long_sums(const Graph& g);

} // namespace kiln
