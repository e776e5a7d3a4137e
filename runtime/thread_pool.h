// A fixed pool of worker threads that sleep (never spin) while idle.
#pragma once
#include <cstdint>
#include <functional>

namespace kiln {

// Number of threads kernels use: KILN_NUM_THREADS, default all cores.
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over [0, n) split into at most num_threads() contiguous chunks, the calling
// thread taking the first; returns when all are done. min_chunk bounds the split for small n.
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

} // namespace kiln
