// Physical limits measured in the same run as the workloads: memory bandwidth and FMA peak
// (OpenBLAS sgemm is in sgemm_probe.h).
#pragma once
#include <string>

namespace bench {

double median_seconds(void (*fn)(void*), void* ctx, int reps);
double copy_gbs(int reps);        // a multithreaded copy, bytes read + written
double triad_gbs(int reps);       // a[i] = b[i] + s * c[i], 3 streams
double read_gbs(int reps);        // a multithreaded sum: read bandwidth alone
double fma_peak_gflops(int reps); // f32 FMAs of the widest vectors, all threads
std::string host();               // the CPU's model name and widest vector unit

} // namespace bench
