#include "sgemm_probe.h"

#include "probes.h"

#include <kiln/kiln.h>

#include <cblas.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace bench {
namespace {

struct Gemm {
  int n;
  std::vector<float> a, b, c;
};

// Small integers over 8: every product and partial sum is exact in f32 up to n = 4096 or so,
// so a wrong kernel cannot hide in rounding.
float value(size_t i, int salt) { return float(int((i * 2654435761u + salt) % 17) - 8) / 8; }

Gemm& kept_gemm(int n) {
  // Kept per size: bench_fusion runs this probe between the runs of each workload.
  static std::map<int, Gemm> kept;
  auto [it, fresh] = kept.try_emplace(n);
  Gemm& g = it->second;
  if (fresh) {
    size_t nn = size_t(n) * n;
    g = Gemm{n, std::vector<float>(nn), std::vector<float>(nn), std::vector<float>(nn)};
    for (size_t i = 0; i < nn; ++i) g.a[i] = value(i, 1), g.b[i] = value(i, 2);
  }
  return g;
}

void run_sgemm(void* p) {
  auto* g = static_cast<Gemm*>(p);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a.data(), g->n,
              g->b.data(), g->n, 0.0f, g->c.data(), g->n);
}

bool result_ok(const Gemm& g) {
  for (int s = 0; s < 16; ++s) {
    int i = (s * 7919) % g.n, j = (s * 104729 + 3) % g.n;
    double want = 0;
    for (int k = 0; k < g.n; ++k)
      want += double(g.a[size_t(i) * g.n + k]) * g.b[size_t(k) * g.n + j];
    if (std::abs(g.c[size_t(i) * g.n + j] - want) > 1e-3 * (1 + std::abs(want))) return false;
  }
  return true;
}

// Measures in this process; -1 when the result is wrong.
double local_sgemm_gflops(int n, int reps, int threads) {
  openblas_set_num_threads(threads);
  Gemm& g = kept_gemm(n);
  double s = median_seconds(run_sgemm, &g, reps);
  return result_ok(g) ? 2.0 * n * n * double(n) / s / 1e9 : -1;
}

struct Child {
  FILE* to = nullptr;   // requests: "n reps threads"
  FILE* from = nullptr; // answers: GFLOP/s, or -1 for a wrong result
};
Child child;

Child spawn_child(const char* self) {
  int req[2], ans[2];
  if (pipe(req) != 0 || pipe(ans) != 0) throw std::runtime_error("sgemm probe: pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, req[0], 0);
  posix_spawn_file_actions_adddup2(&fa, ans[1], 1);
  posix_spawn_file_actions_addclose(&fa, req[1]);
  posix_spawn_file_actions_addclose(&fa, ans[0]);
  std::vector<std::string> env_text = {"OPENBLAS_CORETYPE=SkylakeX"};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OPENBLAS_CORETYPE=", 18) != 0) env_text.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);
  char arg[] = "--sgemm-child";
  char* argv[] = {const_cast<char*>(self), arg, nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, self, &fa, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&fa);
  close(req[0]);
  close(ans[1]);
  if (rc != 0) throw std::runtime_error(std::string("sgemm probe: cannot start ") + self);
  return {fdopen(req[1], "w"), fdopen(ans[0], "r")};
}

} // namespace

std::string start_sgemm_probe() {
  std::string own = openblas_get_corename();
  if (!__builtin_cpu_supports("avx512f")) return own;
  child = spawn_child("/proc/self/exe");
  fprintf(child.to, "corename\n");
  fflush(child.to);
  char name[64] = {};
  if (fscanf(child.from, "%63s", name) != 1)
    throw std::runtime_error("sgemm probe: the SkylakeX child did not answer");
  return std::string(name) + " (child with OPENBLAS_CORETYPE=SkylakeX; this process: " + own + ")";
}

bool serve_sgemm_probe(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--sgemm-child") != 0) return false;
  char word[32];
  while (scanf("%31s", word) == 1) {
    if (std::strcmp(word, "corename") == 0) {
      printf("%s\n", openblas_get_corename());
    } else {
      int n = std::atoi(word), reps = 0, threads = 0;
      if (scanf("%d %d", &reps, &threads) != 2) break;
      printf("%.6f\n", local_sgemm_gflops(n, reps, threads));
    }
    fflush(stdout);
  }
  return true;
}

double sgemm_gflops(int n, int reps) {
  double g;
  if (child.to) {
    fprintf(child.to, "%d %d %d\n", n, reps, kiln::num_threads());
    fflush(child.to);
    if (fscanf(child.from, "%lf", &g) != 1)
      throw std::runtime_error("sgemm probe: the SkylakeX child did not answer");
  } else {
    g = local_sgemm_gflops(n, reps, kiln::num_threads());
  }
  if (g < 0) throw std::runtime_error("sgemm probe: OpenBLAS sgemm gave a wrong result");
  return g;
}

} // namespace bench
