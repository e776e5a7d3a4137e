// Fused attention (passes/attention_match.h, codegen/cpu/emit_attention.cpp): which graphs become
// one attention kernel, and its results against the reference interpreter over a seeded sweep of
// odd sequence lengths and head dims, f32 and f64, with and without a causal mask.
#include "test_util.h"

#include "ir/kernel_parser.h"
#include "passes/attention_match.h"
#include "passes/pipeline.h"

#include <cmath>
#include <functional>
#include <limits>
#include <random>

using namespace kt;

namespace {

double rtol(DType t) { return t == DType::F64 ? 1e-10 : 2e-4; }
double atol(DType t) { return t == DType::F64 ? 1e-10 : 2e-5; }

// mask[m][j] = j > m: the keys after each query, as decoder transformers hide them.
Tensor causal_mask(int64_t m, int64_t l) {
  Tensor rows = kiln::arange(0, m).reshape({m, 1}), cols = kiln::arange(0, l).reshape({1, l});
  return cols > rows;
}

struct Attn {
  bool causal = false;
  double scale = 0.125;
  enum Form { kiln_softmax, divide, additive_mask } form = kiln_softmax;
};

// softmax(q @ k^T * scale [masked]) @ v over the last axis, k^T a transposed view.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Attn& o) {
  int64_t r = static_cast<int64_t>(q.shape().size());
  Tensor s = kiln::matmul(q, k.transpose(r - 2, r - 1)) * o.scale;
  int64_t m = q.shape()[r - 2], l = k.shape()[r - 2];
  if (o.causal && o.form == Attn::additive_mask)
    s = s +
        kiln::where(causal_mask(m, l), -std::numeric_limits<double>::infinity(), 0.0).to(q.dtype());
  else if (o.causal)
    s = kiln::masked_fill(s, causal_mask(m, l), -std::numeric_limits<double>::infinity());
  Tensor p;
  if (o.form == Attn::divide) {
    Tensor e = (s - s.max({-1}, true)).exp();
    p = e / e.sum({-1}, true);
  } else {
    p = kiln::nn::functional::softmax(s, -1);
  }
  return kiln::matmul(p, v);
}

// The kernels the pipeline makes of t's graph.
std::vector<std::string> kernel_names(const Tensor& t) {
  kiln::Schedule s = kiln::run_pipeline({t.node().get()}, {});
  std::vector<std::string> names;
  for (auto& k : s.kernels) names.push_back(k.kernel.name);
  return names;
}

bool one_attention_kernel(const Tensor& t) {
  auto names = kernel_names(t);
  INFO("kernels: " << names.size() << ", first " << (names.empty() ? "" : names[0]));
  return names.size() == 1 && names[0].rfind("k_attention", 0) == 0;
}

Tensor input(const Shape& s, DType t) { return random_input(s, t, -2, 2); }

// y is one fused attention kernel, runs as one launch and matches the reference interpreter.
void check_fused_attention(const Tensor& y, DType t) {
  CHECK(one_attention_kernel(y));
  Tensor ref = kiln::reference(y);
  auto before = kiln::stats().kernels_launched;
  y.realize();
  CHECK(kiln::stats().kernels_launched - before == 1);
  check_close(y, ref, rtol(t), atol(t));
}

} // namespace

TEST_CASE("attention: one kernel for the forward pass, causal or not, both softmax forms",
          "[attention]") {
  kiln::manual_seed(1);
  Tensor q = input({2, 3, 40, 16}, DType::F32), k = input({2, 3, 40, 16}, DType::F32),
         v = input({2, 3, 40, 16}, DType::F32);
  for (bool causal : {false, true})
    for (auto form : {Attn::kiln_softmax, Attn::divide, Attn::additive_mask}) {
      INFO("causal " << causal << " form " << form);
      Tensor y = attention(q, k, v, {causal, 0.3, form});
      check_fused_attention(y, DType::F32);
    }
}

TEST_CASE("attention: unfused when the probabilities are needed elsewhere", "[attention]") {
  kiln::manual_seed(2);
  Tensor q = input({3, 20, 8}, DType::F64), k = input({3, 24, 8}, DType::F64),
         v = input({3, 24, 5}, DType::F64);
  Tensor p = kiln::nn::functional::softmax(kiln::matmul(q, k.transpose(1, 2)), -1);
  Tensor y = kiln::matmul(p, v);
  Tensor pref = kiln::reference(p), yref = kiln::reference(y);
  auto before = kiln::stats().kernels_launched;
  kiln::realize({y, p}); // p is an output: y's kernel cannot be the one that never writes it
  CHECK(kiln::stats().kernels_launched - before >= 2);
  check_close(p, pref, rtol(DType::F64), atol(DType::F64));
  check_close(y, yref, rtol(DType::F64), atol(DType::F64));
}

TEST_CASE("attention: gradients through the unfused forward match the interpreter", "[attention]") {
  for (bool causal : {false, true}) {
    kiln::manual_seed(3);
    Tensor q = input({2, 9, 6}, DType::F64), k = input({2, 9, 6}, DType::F64),
           v = input({2, 9, 4}, DType::F64);
    for (Tensor* x : {&q, &k, &v}) x->requires_grad_();
    Tensor y = attention(q, k, v, {causal, 0.7});
    Tensor w = input(y.shape(), DType::F64); // a loss whose gradient is not constant
    auto g = kiln::autograd::grad({(y * w).sum()}, {q, k, v});
    for (auto& gi : g) check_vs_reference(gi, 1e-10, 1e-10);
  }
}

TEST_CASE("attention: odd shapes against the interpreter, f32 and f64, causal or not",
          "[attention]") {
  const int64_t lengths[] = {1, 7, 63, 65, 257}, dims[] = {1, 32, 64, 80};
  std::mt19937 gen(42);
  int count = 0;
  for (int64_t l : lengths)
    for (int64_t d : dims) {
      // Each length with each head dim once; dtype, mask, query count and scale drawn.
      DType t = gen() % 2 ? DType::F64 : DType::F32;
      bool causal = gen() % 2;
      int64_t m = causal ? l : lengths[gen() % 5], n = gen() % 3 ? d : 1 + gen() % 40;
      double scale = (0.2 + (gen() % 100) / 50.0) / std::sqrt(static_cast<double>(d));
      if (l == 257 && d >= 64) m = std::min<int64_t>(m, 65); // keeps the interpreter quick
      kiln::manual_seed(++count);
      INFO(dtype_s(t) << " queries " << m << " keys " << l << " head dim " << d << " value dim "
                      << n << " causal " << causal << " scale " << scale);
      Tensor q = input({2, m, d}, t), k = input({2, l, d}, t), v = input({2, l, n}, t);
      Tensor y = attention(q, k, v, {causal, scale});
      CHECK(one_attention_kernel(y));
      check_vs_reference(y, rtol(t), atol(t));
    }
}

TEST_CASE("attention: heads split by views, one thread and several", "[attention]") {
  int threads = kiln::num_threads();
  for (int nt : {1, 3}) {
    kiln::set_num_threads(nt);
    kiln::manual_seed(4);
    // [batch, seq, heads * dim] -> [batch, heads, seq, dim], as a transformer's projections are.
    const int64_t b = 3, s = 64, h = 4, d = 32;
    auto heads = [&](const Tensor& x) { return x.reshape({b, s, h, d}).permute({0, 2, 1, 3}); };
    Tensor x = input({b, s, 3 * h * d}, DType::F32);
    Tensor q = heads(x.slice(2, 0, h * d)), k = heads(x.slice(2, h * d, 2 * h * d)),
           v = heads(x.slice(2, 2 * h * d, 3 * h * d));
    Tensor y = attention(q, k, v, {true, 1 / std::sqrt(32.0)});
    CHECK(one_attention_kernel(y));
    check_vs_reference(y.permute({0, 2, 1, 3}).reshape({b, s, h * d}), rtol(DType::F32),
                       atol(DType::F32));
  }
  kiln::set_num_threads(threads);
}

TEST_CASE("attention kernel IR: matched, printed and parsed back; nesting is checked",
          "[attention]") {
  kiln::manual_seed(5);
  Tensor q = input({2, 5, 4}, DType::F32), k = input({2, 6, 4}, DType::F32),
         v = input({2, 6, 3}, DType::F32);
  kiln::Schedule s = kiln::run_pipeline({attention(q, k, v, {true, 0.5}).node().get()}, {});
  REQUIRE(s.kernels.size() == 1);
  const kiln::Kernel& kernel = s.kernels[0].kernel;
  auto a = kiln::match_attention_kernel(kernel);
  REQUIRE(a.has_value());
  CHECK((a->B == 2 && a->M == 5 && a->N == 3 && a->L == 6 && a->D == 4));
  std::string text = kiln::print_kernel(kernel);
  CHECK(kiln::print_kernel(kiln::parse_kernel(text)) == text);
  // The same dot product under a plain sum over the keys: a nested stage without a softmax_sum.
  size_t at = text.find("softmax_sum");
  REQUIRE(at != std::string::npos);
  size_t comma = text.find(',', at), stage = text.find(" @1", at);
  std::string bad =
      text.substr(0, at) + "sum" + text.substr(at + 11, comma - at - 11) + text.substr(stage);
  CHECK_THROWS_WITH(kiln::parse_kernel(bad), Catch::Contains("nests in stage 1"));
}

TEST_CASE("attention: several chunks of keys, some wholly masked for some queries", "[attention]") {
  for (DType t : float_dtypes()) {
    kiln::manual_seed(6);
    const int64_t l = 300; // more keys than one chunk holds (the online softmax rescales)
    Tensor q = input({2, l, 16}, t), k = input({2, l, 16}, t), v = input({2, l, 8}, t);
    // Causal: later chunks hide everything from early queries. Anti-causal: the first chunk
    // hides everything from late queries (their running max starts at -inf).
    for (bool later : {true, false}) {
      INFO(dtype_s(t) << (later ? " causal" : " anti-causal"));
      // Built in a function, so that no intermediate is held (held tensors are written).
      auto build = [&] {
        Tensor mask = later
                          ? causal_mask(l, l)
                          : kiln::arange(0, l).reshape({1, l}) < kiln::arange(0, l).reshape({l, 1});
        Tensor s = kiln::matmul(q, k.transpose(1, 2)) * 0.3;
        Tensor p = kiln::nn::functional::softmax(
            kiln::masked_fill(s, mask, -std::numeric_limits<double>::infinity()), -1);
        return kiln::matmul(p, v);
      };
      Tensor y = build();
      check_fused_attention(y, t);
    }
  }
}
