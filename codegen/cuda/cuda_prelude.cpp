#include "codegen/cuda/cuda_prelude.h"

namespace kiln::cuda {

std::string_view cuda_prelude() {
  return R"(// kiln CUDA kernel (generated). Semantics follow the CPU backend: no fast math.
#define KILN_DEV static __device__ __forceinline__
#define KILN_NO_INDEX 9223372036854775807LL
// float -> integer as x86 converts: NaN and out-of-range give INT64_MIN, then truncate.
KILN_DEV long long kiln_f2i(double x) {
  return (x >= -9.2233720368547758e18 && x < 9.2233720368547758e18) ? (long long)x
                                                                     : (-9223372036854775807LL - 1);
}
// max/min propagate NaN (fmaxf would drop it).
KILN_DEV float kiln_max(float a, float b) { return (isnan(a) || isnan(b)) ? a + b : (a > b ? a : b); }
KILN_DEV float kiln_min(float a, float b) { return (isnan(a) || isnan(b)) ? a + b : (a < b ? a : b); }
KILN_DEV double kiln_max(double a, double b) { return (isnan(a) || isnan(b)) ? a + b : (a > b ? a : b); }
KILN_DEV double kiln_min(double a, double b) { return (isnan(a) || isnan(b)) ? a + b : (a < b ? a : b); }
KILN_DEV int kiln_max(int a, int b) { return a > b ? a : b; }
KILN_DEV int kiln_min(int a, int b) { return a < b ? a : b; }
KILN_DEV long long kiln_max(long long a, long long b) { return a > b ? a : b; }
KILN_DEV long long kiln_min(long long a, long long b) { return a < b ? a : b; }
KILN_DEV unsigned char kiln_max(unsigned char a, unsigned char b) { return a > b ? a : b; }
KILN_DEV unsigned char kiln_min(unsigned char a, unsigned char b) { return a < b ? a : b; }
// e / (1 + e) with e = exp(-|x|): exp(-x) would overflow while the result is still a denormal.
KILN_DEV float kiln_sigmoid(float x) { float e = expf(-fabsf(x)); return (x < 0.0f ? e : 1.0f) / (1.0f + e); }
KILN_DEV double kiln_sigmoid(double x) { double e = exp(-fabs(x)); return (x < 0.0 ? e : 1.0) / (1.0 + e); }
KILN_DEV float kiln_sign(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
KILN_DEV double kiln_sign(double x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x; }
// Floor division and modulo (index math may have a negative numerator; divisors are > 0).
template <class T> KILN_DEV T kiln_floordiv(T a, T b) { T q = a / b, r = a % b; return q - (r < 0 ? 1 : 0); }
template <class T> KILN_DEV T kiln_mod(T a, T b) { T r = a % b; return r + (r < 0 ? b : 0); }
// Integer fmod: by 0 gives 0, and INT_MIN % -1 gives 0 instead of trapping.
KILN_DEV int kiln_ifmod(int a, int b) { return (b == 0 || b == -1) ? 0 : a % b; }
KILN_DEV long long kiln_ifmod(long long a, long long b) { return (b == 0 || b == -1) ? 0 : a % b; }
KILN_DEV unsigned char kiln_ifmod(unsigned char a, unsigned char b) { return b == 0 ? 0 : a % b; }
KILN_DEV long long kiln_ipow(long long b, long long e) {
  if (e < 0) return b == 1 ? 1 : b == -1 ? (e % 2 ? -1 : 1) : 0;
  unsigned long long r = 1, ub = (unsigned long long)b;
  for (; e; e >>= 1, ub *= ub)
    if (e & 1) r *= ub;
  return (long long)r;
}
template <class T> KILN_DEV bool kiln_isnan(T) { return false; }
KILN_DEV bool kiln_isnan(float x) { return isnan(x); }
KILN_DEV bool kiln_isnan(double x) { return isnan(x); }
// argmax/argmin: the value and its index; ties and NaN as the CPU (first index, NaN wins).
template <class T> struct KilnArg { T v; long long i; };
template <bool Max, class T> KILN_DEV KilnArg<T> kiln_arg_pick(KilnArg<T> a, KilnArg<T> b) {
  bool b_better = (Max ? b.v > a.v : b.v < a.v) || (kiln_isnan(b.v) && !kiln_isnan(a.v));
  bool a_better = (Max ? a.v > b.v : a.v < b.v) || (kiln_isnan(a.v) && !kiln_isnan(b.v));
  if (b_better) return b;
  if (a_better) return a;
  return b.i < a.i ? b : a;
}
// Warp shuffles of every register type (bool and bytes travel as int).
KILN_DEV float kiln_shfl(float v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
KILN_DEV double kiln_shfl(double v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
KILN_DEV int kiln_shfl(int v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
KILN_DEV long long kiln_shfl(long long v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
KILN_DEV unsigned char kiln_shfl(unsigned char v, int o) { return (unsigned char)__shfl_xor_sync(0xffffffffu, (int)v, o); }
KILN_DEV bool kiln_shfl(bool v, int o) { return __shfl_xor_sync(0xffffffffu, (int)v, o) != 0; }
template <class T> KILN_DEV KilnArg<T> kiln_shfl(KilnArg<T> v, int o) {
  KilnArg<T> r;
  r.v = kiln_shfl(v.v, o);
  r.i = kiln_shfl(v.i, o);
  return r;
}
// Warp-wide reduction by butterfly shuffles: every lane gets the result.
template <class T, class Op> KILN_DEV T kiln_warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, kiln_shfl(v, o));
  return v;
}
// Block-wide reduction: each warp's, then one slot per warp in shared memory; every thread
// gets the result. blockDim.x is a multiple of 32.
template <class T, class Op> KILN_DEV T kiln_block_reduce(T v, T identity, T* slots, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = kiln_warp_reduce(v, op);
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = kiln_warp_reduce(lane < warps ? slots[lane] : identity, op);
    if (lane == 0) slots[0] = v;
  }
  __syncthreads();
  T r = slots[0];
  __syncthreads(); // the slots are free again for the next reduction
  return r;
}
)";
}

} // namespace kiln::cuda
