// Fused attention in symbolic kernels (passes/attention_match.h, codegen/cpu/emit_attention.cpp):
// attention over a sequence of T tokens, lowered at two lengths and generalised, keeps its query
// rows and keys symbolic, runs the attention emitter, and agrees with the interpreter's run of the
// concrete instantiation over a sweep of T (partial blocks of 16 or 32 queries and of 6 or 12 keys,
// one query, several threads); and a model realized at growing lengths compiles a bounded number
// of programs.
#include "sym_kernels.h"
#include "test_util.h"

#include "passes/attention_match.h"
#include "passes/generalise.h"

using namespace kiln;
using kt::Build;
using kt::realized_randn;
namespace F = kiln::nn::functional;

namespace {

const std::vector<int64_t> kLengths = {1, 2, 3, 7, 16, 17, 63, 64, 65};

// scaled_dot_product_attention of q, k, v [..., T, d] at each length T.
Build sdpa(Shape batch, int64_t d, bool causal) {
  return [batch, d, causal](int64_t t) {
    Shape s = batch;
    s.insert(s.end(), {t, d});
    return std::vector<Tensor>{F::scaled_dot_product_attention(
        realized_randn(s), realized_randn(s), realized_randn(s), {.causal = causal})};
  };
}

// The one kernel of `build`, fit from lengths 19 and 50: an attention kernel whose query rows and
// keys are the length, whose LLVM code has the microkernel only the attention emitter writes.
Kernel symbolic_attention(const Build& build, bool rows_symbolic = true) {
  auto sym = kt::generalise_all(build, {19, 50});
  REQUIRE(sym);
  REQUIRE(sym->size() == 1);
  const Kernel& k = sym->at(0);
  INFO(print_kernel(k));
  auto a = match_attention_kernel(k);
  REQUIRE(a);
  CHECK(a->M.symbolic() == rows_symbolic);
  CHECK(a->L.symbolic());
  CHECK_FALSE(a->B.symbolic());
  // The runtime runs it only where it equals the kernel lowered at that length.
  for (int64_t t : {7, 64}) CHECK(instantiate(k, t) == kt::lowered(build, t).at(0));
  if (kt::runs_llvm()) {
    auto c = backend_for(Device::cpu(), "llvm").compile(k, {.dumps = {"llvm"}});
    REQUIRE(!c.dumps.empty());
    CHECK(c.dumps[0].second.find(k.name + ".micro") != std::string::npos);
  }
  return k;
}

void check_llvm(const Kernel& k, const std::vector<int64_t>& lengths) {
  // f32 dot products of 16-32 normal values, softmax in another order than the interpreter's.
  kt::check_backend_at({k}, lengths, backend_for(Device::cpu(), "llvm"), 2e-4, 2e-5);
}

} // namespace

TEST_CASE("symbolic attention: plain and causal sdpa over [B, H, T, D], T symbolic",
          "[attention][symbolic]") {
  manual_seed(31);
  for (bool causal : {false, true}) {
    INFO((causal ? "causal" : "plain"));
    Kernel k = symbolic_attention(sdpa({2, 3}, 16, causal));
    KILN_NEEDS_LLVM();
    check_llvm(k, kLengths);
    // The batch of 6 heads split at launch into uneven ranges.
    int threads = num_threads();
    set_num_threads(4);
    check_llvm(k, {5, 33});
    set_num_threads(threads);
  }
}

TEST_CASE("symbolic attention: keys in several chunks, causal", "[attention][symbolic]") {
  manual_seed(37);
  // A chunk holds 192 or 256 keys: from 300 on, early queries see nothing of the last chunk.
  Kernel k = symbolic_attention(sdpa({1}, 4, true));
  KILN_NEEDS_LLVM();
  check_llvm(k, {300, 520});
}

TEST_CASE("symbolic attention: the char_transformer's heads [1, 4, T, 32], causal",
          "[attention][symbolic]") {
  manual_seed(32);
  Kernel k = symbolic_attention(sdpa({1, 4}, 32, true));
  KILN_NEEDS_LLVM();
  check_llvm(k, kLengths);
}

TEST_CASE("symbolic attention: concrete queries over a symbolic number of keys, none included",
          "[attention][symbolic]") {
  manual_seed(33);
  Tensor q = realized_randn({2, 5, 8});
  Kernel k = symbolic_attention(
      [q](int64_t t) {
        return std::vector<Tensor>{F::scaled_dot_product_attention(q, realized_randn({2, t, 8}),
                                                                   realized_randn({2, t, 8}))};
      },
      false);
  KILN_NEEDS_LLVM();
  // No keys: no lowering fuses that, but the kernel gives the interpreter's NaN (0 / 0).
  std::vector<int64_t> lengths = kLengths;
  lengths.push_back(0);
  check_llvm(k, lengths);
}

TEST_CASE("symbolic attention: refused when the head dim changes with the size",
          "[attention][symbolic]") {
  manual_seed(34);
  Build heads = [](int64_t d) { // a scale of its own, not 1/sqrt(d) (which no fit gives)
    Shape s = {2, 9, d};
    return std::vector<Tensor>{F::scaled_dot_product_attention(
        realized_randn(s), realized_randn(s), realized_randn(s), {.scale = 0.125})};
  };
  auto a = kt::lowered(heads, 19), b = kt::lowered(heads, 50);
  REQUIRE((a.size() == 1 && b.size() == 1));
  REQUIRE(match_attention_kernel(a[0]));
  std::string why;
  CHECK_FALSE(generalise({{19, &a[0]}, {50, &b[0]}}, &why));
  CHECK_THAT(why, Catch::Contains("head dim or value width"));
}

namespace {

struct ProgramCounts {
  int64_t compiled = 0, resized = 0;
};

// Causal attention over [1, 4, t, 8], realized and checked against the interpreter; counts the
// programs it compiled and resized. `marked`: the queries' length is marked dynamic, and the
// result gets `+ 1`, a structure of its own apart from the unmarked one.
void realize_causal_attention(int64_t t, bool marked, ProgramCounts& counts) {
  Tensor q = realized_randn({1, 4, t, 8}), k = realized_randn({1, 4, t, 8}),
         v = realized_randn({1, 4, t, 8});
  if (marked) mark_dynamic(q, 2);
  Tensor y = F::scaled_dot_product_attention(q, k, v, {.causal = true});
  if (marked) y = y + 1.0f;
  auto before = stats();
  y.realize();
  counts.compiled += stats().programs_compiled - before.programs_compiled;
  counts.resized += stats().programs_resized - before.programs_resized;
  INFO("length " << t);
  kt::check_close(y, reference(y), 2e-4, 2e-5);
}

} // namespace

TEST_CASE("symbolic attention: growing lengths compile at most 3 programs",
          "[attention][dynamic]") {
  manual_seed(35);
  ProgramCounts counts;
  const int64_t lengths = 24;
  for (int64_t t = 1; t <= lengths; ++t) realize_causal_attention(t, false, counts);
  CHECK(counts.compiled <= 3);
  CHECK(counts.compiled + counts.resized == lengths);
}

TEST_CASE("symbolic attention: a marked length compiles once for every length",
          "[attention][dynamic]") {
  // Two resized copies of the graph give the quadratic T*T its three samples at the first length.
  manual_seed(36);
  ProgramCounts counts;
  for (int64_t t = 6; t <= 30; ++t) realize_causal_attention(t, true, counts);
  CHECK(counts.compiled == 1);
  CHECK(counts.resized == 24);
}

// Not run by the suite (hidden tag): `build/tests/kiln_tests "[.bench]"`. The causal attention of
// char_transformer's heads and W6's attention (shared/bench/WORKLOADS.md), symbolic against
// concrete.
TEST_CASE("symbolic attention timing against the concrete kernel", "[.bench]") {
  KILN_NEEDS_LLVM();
  manual_seed(36);
  Build heads = sdpa({1, 4}, 32, true), w6 = sdpa({8, 8}, 64, false);
  kt::time_against_concrete("sdpa causal [1,4,T,32]", heads, symbolic_attention(heads),
                            {64, 200, 256});
  kt::time_against_concrete("sdpa [8,8,T,64] (W6)", w6, symbolic_attention(w6), {256});
}
