// Physical limits measured in the same run as the workloads: memory bandwidth and BLAS sgemm.
#pragma once
#include <string>

namespace bench {

double median_seconds(void (*fn)(void*), void* ctx, int reps);
double copy_gbs(int reps);            // a multithreaded copy, bytes read + written
double triad_gbs(int reps);           // a[i] = b[i] + s * c[i], 3 streams
double read_gbs(int reps);            // a multithreaded sum: read bandwidth alone
double sgemm_gflops(int n, int reps); // OpenBLAS cblas_sgemm, n^3
std::string host();                   // the CPU's model name and widest vector unit

} // namespace bench
