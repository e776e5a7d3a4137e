// A fixed pool of worker threads that sleep (never spin) while idle.
#pragma once
#include <cstdint>
#include <functional>

namespace kiln {

// Number of threads kernels use: KILN_NUM_THREADS, default all cores.
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over [0, n) in contiguous pieces of at least min_chunk (except when n is
// smaller), shared out to at most num_threads() threads, the caller among them; returns when all
// are done. Pieces are taken in turn, so a fast thread runs more of them.
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

} // namespace kiln
