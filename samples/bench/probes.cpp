#include "probes.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <cblas.h>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <vector>

namespace bench {
namespace {
constexpr size_t kFloats = size_t(32) << 20; // 128 MiB per array: far beyond any cache

// The copy and triad write with streaming (non-temporal) stores where the destination is 64-byte
// aligned, as memcpy does for large copies: the probes measure what the memory system can do,
// and kiln streams its large outputs too.
bool aligned64(const float* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

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

double sgemm_gflops(int n, int reps) {
  openblas_set_num_threads(kiln::num_threads());
  struct Ctx {
    int n;
    std::vector<float> a, b, c;
  };
  // Kept per size: bench_fusion runs this probe between the runs of each workload.
  static std::map<int, Ctx> kept;
  auto [it, fresh] = kept.try_emplace(n, Ctx{n, std::vector<float>(size_t(n) * n, 0.5f),
                                             std::vector<float>(size_t(n) * n, 0.25f),
                                             std::vector<float>(size_t(n) * n)});
  Ctx& c = it->second;
  auto run = [](void* p) {
    auto* c = static_cast<Ctx*>(p);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->n, c->n, c->n, 1.0f, c->a.data(),
                c->n, c->b.data(), c->n, 0.0f, c->c.data(), c->n);
  };
  return 2.0 * n * n * double(n) / median_seconds(run, &c, reps) / 1e9;
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
