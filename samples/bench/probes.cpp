#include "probes.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <thread>
#include <vector>

namespace bench {
namespace {
constexpr size_t kFloats = size_t(32) << 20; // 128 MiB per array: far beyond any cache
#ifdef __AVX512F__
constexpr int kVectorBytes = 64;
#else
constexpr int kVectorBytes = 32;
#endif

// The copy and triad write with streaming (non-temporal) stores where the destination is 64-byte
// aligned, as memcpy does for large copies: the probes measure what the memory system can do,
// and kiln streams its large outputs too.
#ifdef __AVX512F__
bool aligned64(const float* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }
#endif

void copy_range(float* dst, const float* src, int64_t b, int64_t e) {
  int64_t i = b;
#ifdef __AVX512F__
  for (; i < e && !aligned64(dst + i); ++i) dst[i] = src[i];
  for (; i + 16 <= e; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  _mm_sfence();
#endif
  for (; i < e; ++i) dst[i] = src[i];
}

void triad_range(float* dst, const float* x, const float* y, int64_t b, int64_t e) {
  int64_t i = b;
#ifdef __AVX512F__
  for (; i < e && !aligned64(dst + i); ++i) dst[i] = x[i] + 3.0f * y[i];
  __m512 three = _mm512_set1_ps(3.0f);
  for (; i + 16 <= e; i += 16)
    _mm512_stream_ps(dst + i,
                     _mm512_fmadd_ps(_mm512_loadu_ps(y + i), three, _mm512_loadu_ps(x + i)));
  _mm_sfence();
#endif
  for (; i < e; ++i) dst[i] = x[i] + 3.0f * y[i];
}

} // namespace

double median_seconds(void (*fn)(void*), void* ctx, int reps) {
  fn(ctx);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn(ctx);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double copy_gbs(int reps) {
  // Kept: bench_fusion runs this probe between the runs of each workload.
  static struct Ctx {
    std::vector<float> a, b;
  } c{std::vector<float>(kFloats, 1.0f), std::vector<float>(kFloats, 2.0f)};
  auto run = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    kiln::parallel_for(static_cast<int64_t>(kFloats), 1 << 16,
                       [&](int64_t b, int64_t e) { copy_range(c->a.data(), c->b.data(), b, e); });
  };
  return 2.0 * kFloats * sizeof(float) / median_seconds(run, &c, reps) / 1e9;
}

double triad_gbs(int reps) {
  struct Ctx {
    std::vector<float> a, b, c;
  } c{std::vector<float>(kFloats, 0.0f), std::vector<float>(kFloats, 1.0f),
      std::vector<float>(kFloats, 2.0f)};
  auto run = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    kiln::parallel_for(static_cast<int64_t>(kFloats), 1 << 16, [&](int64_t b, int64_t e) {
      triad_range(c->a.data(), c->b.data(), c->c.data(), b, e);
    });
  };
  return 3.0 * kFloats * sizeof(float) / median_seconds(run, &c, reps) / 1e9;
}

double read_gbs(int reps) {
  struct Ctx {
    std::vector<float> a;
    float sink = 0;
  } c{std::vector<float>(kFloats, 1.0f)};
  auto run = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    float parts[64] = {};
    kiln::parallel_for(static_cast<int64_t>(kFloats), 1 << 16, [&](int64_t b, int64_t e) {
      float s = 0;
      for (int64_t i = b; i < e; ++i) s += c->a[i];
      parts[b * 64 / static_cast<int64_t>(kFloats)] += s;
    });
    for (float s : parts) c->sink += s;
  };
  return double(kFloats) * sizeof(float) / median_seconds(run, &c, reps) / 1e9;
}

namespace {

// One thread's share of the FMA peak: 12 independent chains of vector FMAs (more than FMA
// latency x FMA units on Zen 3 and Zen 5), each multiplying by a factor just below 1 so nothing
// overflows. Named variables, not an array, so that they live in registers; the empty asm keeps
// every FMA.
constexpr int kFmaLanes = kVectorBytes / 4, kFmaIters = 1 << 24;

void fma_chains() {
  typedef float Vec __attribute__((vector_size(kVectorBytes)));
  Vec m, add, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  for (int l = 0; l < kFmaLanes; ++l) {
    m[l] = 0.999999f, add[l] = 1e-6f;
    a0[l] = a1[l] = a2[l] = a3[l] = a4[l] = a5[l] = float(l);
    a6[l] = a7[l] = a8[l] = a9[l] = a10[l] = a11[l] = -float(l);
  }
  for (int i = 0; i < kFmaIters; ++i) {
    a0 = a0 * m + add, a1 = a1 * m + add, a2 = a2 * m + add, a3 = a3 * m + add;
    a4 = a4 * m + add, a5 = a5 * m + add, a6 = a6 * m + add, a7 = a7 * m + add;
    a8 = a8 * m + add, a9 = a9 * m + add, a10 = a10 * m + add, a11 = a11 * m + add;
    asm volatile(""
                 : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
                   "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  Vec sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  asm volatile("" : : "v"(sum));
}

} // namespace

double fma_peak_gflops(int reps) {
  // Threads of its own, all started at once (kiln's pool hands out pieces in turn, and its
  // sleeping worker woke too late to take one: the probe measured one core), each running
  // ~60 ms, so that starting them and a neighbour's spinning threads do not count.
  auto run = [](void*) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kiln::num_threads(); ++t) threads.emplace_back(fma_chains);
    for (auto& t : threads) t.join();
  };
  double flops = 2.0 * 12 * kFmaLanes * double(kFmaIters) * kiln::num_threads();
  return flops / median_seconds(run, nullptr, reps) / 1e9;
}

std::string host() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  const char* vec = __builtin_cpu_supports("avx512f") ? "AVX-512 (512-bit)"
                    : __builtin_cpu_supports("avx2")  ? "AVX2 (256-bit)"
                                                      : "SSE (128-bit)";
  return model + ", " + vec;
}

} // namespace bench
