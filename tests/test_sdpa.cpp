// tril/triu, scaled_dot_product_attention and MultiheadAttention against hand-computed values,
// naive loops and finite differences.
#include "grad_check.h"

#include <limits>

using namespace kt;
namespace nn = kiln::nn;
namespace F = kiln::nn::functional;

namespace {

// Attention by plain loops over [B, L, E] x [B, S, E] x [B, S, Ev] in f64; keep(b, i, j) says
// whether query i of batch b sees key j.
std::vector<double> naive_attention(const std::vector<double>& q, const std::vector<double>& k,
                                    const std::vector<double>& v, int64_t b_n, int64_t l, int64_t s,
                                    int64_t e, int64_t ev,
                                    const std::function<bool(int64_t, int64_t, int64_t)>& keep) {
  std::vector<double> out(b_n * l * ev, 0);
  for (int64_t b = 0; b < b_n; ++b)
    for (int64_t i = 0; i < l; ++i) {
      std::vector<double> w(s, 0);
      double top = -std::numeric_limits<double>::infinity(), total = 0;
      for (int64_t j = 0; j < s; ++j) {
        if (!keep(b, i, j)) continue;
        double dot = 0;
        for (int64_t c = 0; c < e; ++c) dot += q[(b * l + i) * e + c] * k[(b * s + j) * e + c];
        w[j] = dot / std::sqrt(double(e));
        top = std::max(top, w[j]);
      }
      for (int64_t j = 0; j < s; ++j) total += w[j] = keep(b, i, j) ? std::exp(w[j] - top) : 0;
      for (int64_t j = 0; j < s; ++j)
        for (int64_t c = 0; c < ev; ++c)
          out[(b * l + i) * ev + c] += w[j] / total * v[(b * s + j) * ev + c];
    }
  return out;
}

} // namespace

TEST_CASE("tril and triu keep a triangle of the last two axes", "[nn][attention]") {
  Tensor x = kiln::arange(1, 13, 1, DType::F32).reshape({3, 4});
  check_values(kiln::tril(x), {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0});
  check_values(kiln::tril(x, -1), {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0});
  check_values(kiln::triu(x, 1), {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12});
  Tensor mask = kiln::tril(kiln::ones({3, 3}, DType::Bool));
  CHECK(mask.dtype() == DType::Bool);
  check_values(mask, {1, 0, 0, 1, 1, 0, 1, 1, 1});
  Tensor batched = random_input({2, 3, 5}, DType::F64);
  check_vs_reference(kiln::triu(batched, -1));
  kt::check_grad([](const std::vector<Tensor>& in) { return kiln::tril(in[0], 1); }, {{3, 4}});
  CHECK_THROWS_WITH(kiln::tril(kiln::ones({4})),
                    Catch::Contains("[tril] input f32[4] must have at least 2 dimensions"));
}

TEST_CASE("scaled_dot_product_attention matches hand computation and loops", "[nn][attention]") {
  // One query against two keys: weights softmax([1/sqrt(2), 0]).
  Tensor q = kiln::tensor({{1.0, 0.0}}), k = kiln::tensor({{1.0, 0.0}, {0.0, 1.0}});
  Tensor v = kiln::tensor({{1.0, 2.0}, {3.0, 4.0}});
  double p1 = 1 / (std::exp(1 / std::sqrt(2.0)) + 1); // the second key's weight
  check_values(F::scaled_dot_product_attention(q, k, v), {1 + 2 * p1, 2 + 2 * p1}, 1e-12);
  check_values(F::scaled_dot_product_attention(q, k, v, {.scale = 0.0}), {2, 3}, 1e-12);

  const int64_t b = 3, l = 5, e = 4, ev = 3;
  for (int64_t s : {l, int64_t(7), int64_t(3)}) {
    INFO("keys " << s);
    Tensor qs = random_input({b, l, e}, DType::F64), ks = random_input({b, s, e}, DType::F64),
           vs = random_input({b, s, ev}, DType::F64);
    auto qv = qs.to_vector<double>(), kv = ks.to_vector<double>(), vv = vs.to_vector<double>();
    // Causal: top-left aligned, query i sees keys j <= i (PyTorch's is_causal).
    auto causal = naive_attention(qv, kv, vv, b, l, s, e, ev,
                                  [](int64_t, int64_t i, int64_t j) { return j <= i; });
    check_values(F::scaled_dot_product_attention(qs, ks, vs, {.causal = true}), causal, 1e-9);
    // A bool mask per batch and a float mask of -inf where it is false give the same result.
    // Key 0 always takes part, so no query has every key masked.
    Tensor keep =
        random_input({b, 1, s}, DType::Bool) || (kiln::arange(0, double(s), 1, DType::I64) == 0);
    auto kb = keep.expand({b, l, s}).to_vector<double>();
    auto masked =
        naive_attention(qv, kv, vv, b, l, s, e, ev, [&](int64_t bi, int64_t i, int64_t j) {
          return kb[(bi * l + i) * s + j] != 0;
        });
    check_values(F::scaled_dot_product_attention(qs, ks, vs, {.mask = keep}), masked, 1e-9);
    Tensor additive =
        kiln::where(keep, 0.0, -std::numeric_limits<double>::infinity()).to(DType::F64);
    check_values(F::scaled_dot_product_attention(qs, ks, vs, {.mask = additive}), masked, 1e-9);
  }
}

TEST_CASE("scaled_dot_product_attention gradients and errors", "[nn][attention][autodiff]") {
  kt::check_grad(
      [](const std::vector<Tensor>& in) {
        return F::scaled_dot_product_attention(in[0], in[1], in[2], {.causal = true});
      },
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 2}}, -1, 1);
  Tensor q = kiln::ones({2, 3, 4}), k = kiln::ones({2, 5, 4}), v = kiln::ones({2, 5, 6});
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, kiln::ones({2, 5, 3}), v),
                    Catch::Contains("[scaled_dot_product_attention] q f32[2, 3, 4], k f32[2, 5, 3] "
                                    "and v f32[2, 5, 6] do not fit"));
  CHECK_THROWS_WITH(
      F::scaled_dot_product_attention(q, k, v, {.mask = kiln::ones({3, 4}, DType::Bool)}),
      Catch::Contains("mask bool[3, 4] does not broadcast"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(
                        q, k, v, {.mask = kiln::ones({3, 5}, DType::Bool), .causal = true}),
                    Catch::Contains("exclusive"));
  CHECK_THROWS_WITH(F::scaled_dot_product_attention(q, k, kiln::ones({3, 5, 6})),
                    Catch::Contains("[scaled_dot_product_attention]"));
}

TEST_CASE("MultiheadAttention splits heads like a per-head composition", "[nn][attention]") {
  kiln::manual_seed(5);
  const int64_t e = 8, h = 2, d = e / h;
  nn::MultiheadAttention mha(e, h);
  auto names = mha.named_parameters();
  REQUIRE(names.size() == 4);
  CHECK(names[0].first == "in_proj_weight");
  CHECK(names[1].first == "in_proj_bias");
  CHECK(names[2].first == "out_proj.weight");
  CHECK(names[3].first == "out_proj.bias");
  for (auto& [name, p] : names) {
    INFO(name);
    CHECK(p.requires_grad());
  }
  check_values(mha.out_proj->bias, std::vector<double>(e, 0.0));
  mha.in_proj_bias.assign(random_input({3 * e}, DType::F32)); // zeros at first: make it matter
  Tensor x = random_input({3, 5, e}, DType::F32);
  Tensor got = mha.forward(x, x, x, {.causal = true});
  // Head by head: rows [i * E + head * d, ...) of in_proj_weight project query, key and value.
  std::vector<Tensor> heads;
  for (int64_t head = 0; head < h; ++head) {
    auto proj = [&](int64_t i) {
      int64_t lo = i * e + head * d;
      return F::linear(x, mha.in_proj_weight.slice(0, lo, lo + d),
                       mha.in_proj_bias.slice(0, lo, lo + d));
    };
    heads.push_back(F::scaled_dot_product_attention(proj(0), proj(1), proj(2), {.causal = true}));
  }
  Tensor want = F::linear(kiln::cat(heads, -1), mha.out_proj->weight, mha.out_proj->bias);
  check_close(got, want, 1e-5, 1e-5);
  // Separate query, key and value tensors take three projections: same values.
  Tensor x2 = x + 0.0;
  check_close(mha.forward(x, x2, x2, {.causal = true}), want, 1e-5, 1e-5);
  CHECK_THROWS_WITH(nn::MultiheadAttention(6, 4), Catch::Contains("multiple of num_heads"));
  CHECK_THROWS_WITH(mha(kiln::ones({2, 7})), Catch::Contains("[MultiheadAttention]"));
}
