// The compute-bound rows' limit: OpenBLAS sgemm measured in the same run, with kiln's thread count,
// OpenBLAS running its best kernels for the host.
#pragma once
#include <string>

namespace bench {

// Debian's OpenBLAS does not know Zen 5 and picks its AVX2 (Haswell) kernels there, and the
// machine's environment may say OPENBLAS_CORETYPE=Haswell. On an AVX-512 host this starts a child,
// this program (/proc/self/exe) run with --sgemm-child with OPENBLAS_CORETYPE=SkylakeX (the core
// type is read once, when OpenBLAS loads), that runs every sgemm probe from then on. Elsewhere
// OpenBLAS keeps its own choice in this process. Returns the core OpenBLAS runs the probe on, e.g.
// "SkylakeX (child)".
std::string start_sgemm_probe();
// In the child: serves probe requests on stdin/stdout until stdin closes. True when argv asked
// for it (the caller then exits).
bool serve_sgemm_probe(int argc, char** argv);
// n^3 sgemm in GFLOP/s, the median of reps runs on kiln::num_threads() threads. Every run's result
// is checked against double-precision sums at a few entries; a wrong result throws.
double sgemm_gflops(int n, int reps);

} // namespace bench
