#include "cuda_sweep.h"

#include "ir/graph_printer.h"

#include <fmt/format.h>
#include <limits>

namespace kiln::cuda_sweep {
namespace {

namespace F = kiln::nn::functional;

const int64_t kSizes[] = {1, 7, 1000, 1025, 4097};

// Realized inputs with varied values (zeros would fold away while tracing).
Tensor in(Shape s, DType t = DType::F32) {
  if (is_float(t)) return randn(std::move(s), t);
  if (t == DType::Bool) return randint(0, 2, std::move(s), DType::I64).to(DType::Bool).realize();
  return randint(1, 20, std::move(s), t);
}

void elementwise(std::vector<Case>& cs) {
  for (DType t : {DType::F32, DType::F64})
    for (int64_t n : kSizes) {
      Tensor x = in({n}, t), a = in({n}, t), b = in({n}, t);
      std::string ty(dtype_name(t));
      cs.push_back({fmt::format("gelu_tanh_{}_{}", ty, n), {(x * a + b).gelu("tanh")}});
      cs.push_back({fmt::format("unary_mix_{}_{}", ty, n),
                    {x.exp().log1p() + x.sigmoid() * x.erf() - x.abs().sqrt().rsqrt() +
                     x.sin() * x.cos() + x.expm1().tanh() + x.floor() + x.ceil() + x.round() +
                     x.sign() + pow(x, 3.0) + pow(x.abs(), a) + maximum(x, a) - minimum(x, b) +
                     fmod(x, b) + where(x > a, x, b).log() + x.reciprocal()}});
    }
  for (DType t : {DType::I32, DType::I64})
    for (int64_t n : {int64_t{7}, int64_t{1025}}) {
      Tensor x = in({n}, t), y = in({n}, t);
      std::string ty(dtype_name(t));
      cs.push_back({fmt::format("int_mix_{}_{}", ty, n),
                    {x * y + x - maximum(x, y) + minimum(x, y).abs() - (-x) + x.sign() +
                         where(x < y, x, y) + floor_divide(x, 3) + remainder(x, 5) + fmod(x, 7),
                     (x.to(DType::F32) * 0.5).floor().to(t)}});
    }
  for (int64_t n : {int64_t{7}, int64_t{1000}}) {
    Tensor x = in({n}), y = in({n});
    Tensor m = logical_and(x > y, (x < 0.5).logical_not());
    cs.push_back({fmt::format("bool_u8_{}", n),
                  {m, where(m, x, y), (x * 100).to(DType::U8).to(DType::F32) + m.to(DType::F32)}});
  }
}

void broadcast_and_views(std::vector<Case>& cs) {
  for (int64_t n : {int64_t{7}, int64_t{1025}}) {
    Tensor x = in({5, n}), row = in({1, n}), col = in({5, 1});
    cs.push_back({fmt::format("broadcast_{}", n), {(x + row) * col - row.exp()}});
    Tensor y = in({3, 4, n});
    cs.push_back({fmt::format("permute_{}", n), {y.permute({2, 0, 1}) * 2.0}});
    cs.push_back({fmt::format("slice_step_{}", n), {y.slice(2, 1, n, 2).exp() + 1.0}});
    cs.push_back(
        {fmt::format("slice_neg_step_{}", n), {y.slice(2, std::nullopt, std::nullopt, -1) * 3.0}});
    cs.push_back({fmt::format("pad_{}", n), {pad(y, {2, 3, 1, 0}, 0.0).exp()}});
    cs.push_back({fmt::format("transpose_copy_{}", n), {in({n, 33}).transpose(0, 1) + 1.0}});
  }
}

void reductions(std::vector<Case>& cs) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64})
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1025}}) {
      Tensor x = in({4, 7, n}, t);
      std::string ty(dtype_name(t));
      for (int64_t ax : {0, 1, 2}) {
        std::string s = fmt::format("{}_{}_axis{}", ty, n, ax);
        cs.push_back({"sum_" + s, {x.sum({ax})}});
        cs.push_back({"max_" + s, {x.max({ax}), x.min({ax})}});
        cs.push_back({"argmax_" + s, {x.argmax(ax), x.argmin(ax)}});
        if (is_float(t))
          cs.push_back({"mean_prod_" + s, {x.mean({ax}), (x * 0.01 + 1.0).prod({ax})}});
      }
      cs.push_back({fmt::format("sum_all_{}_{}", ty, n), {x.sum()}});
    }
  for (int64_t n : kSizes) {
    Tensor x = in({n});
    cs.push_back({fmt::format("sum_1d_{}", n), {x.sum(), x.max()}});
  }
}

void rows(std::vector<Case>& cs) {
  for (DType t : {DType::F32, DType::F64})
    for (int64_t n : kSizes) {
      std::string ty(dtype_name(t));
      Tensor x = in({3, n}, t);
      cs.push_back({fmt::format("softmax_{}_{}", ty, n), {F::softmax(x, -1)}});
      cs.push_back({fmt::format("softmax_axis0_{}_{}", ty, n), {F::softmax(x, 0)}});
      cs.push_back({fmt::format("log_softmax_{}_{}", ty, n), {F::log_softmax(x, -1)}});
      Tensor w = in({n}, t), b = in({n}, t);
      cs.push_back({fmt::format("layernorm_{}_{}", ty, n), {F::layer_norm(x, {n}, w, b)}});
    }
}

void contractions(std::vector<Case>& cs) {
  struct MM {
    int64_t m, k, n;
  };
  for (DType t : {DType::F32, DType::F64})
    for (MM s : {MM{1, 1, 1}, MM{7, 13, 5}, MM{64, 100, 65}, MM{130, 70, 129}, MM{17, 1000, 33}}) {
      std::string name = fmt::format("matmul_{}_{}x{}x{}", dtype_name(t), s.m, s.k, s.n);
      Tensor a = in({s.m, s.k}, t), b = in({s.k, s.n}, t), bias = in({s.n}, t);
      cs.push_back({name, {matmul(a, b)}});
      cs.push_back({name + "_bias_relu", {(matmul(a, b) + bias).relu()}});
      cs.push_back({name + "_bT", {matmul(a, in({s.n, s.k}, t).transpose(0, 1))}});
    }
  cs.push_back({"matmul_batched", {matmul(in({3, 33, 17}), in({3, 17, 40}))}});
  cs.push_back({"matmul_int", {matmul(in({9, 5}, DType::I32), in({5, 18}, DType::I32))}});
  Tensor x = in({2, 3, 9, 9}), w = in({4, 3, 3, 3}), bias = in({4});
  cs.push_back({"conv2d_pad1", {nn::functional::conv2d(x, w, bias, 1, 1).relu()}});
  cs.push_back({"conv2d_stride2", {nn::functional::conv2d(x, w, Tensor(), 2, 0)}});
}

// Fused attention (one kernel, softmax_sum): head dims, key counts over one and several chunks,
// output widths over one and several passes, a causal mask.
void attention(std::vector<Case>& cs) {
  struct Attn {
    int64_t m, l, d, n;
  };
  for (DType t : {DType::F32, DType::F64})
    for (Attn a : {Attn{7, 5, 3, 4}, Attn{33, 300, 64, 64}, Attn{16, 129, 128, 600}}) {
      std::string name = fmt::format("attention_{}_{}x{}x{}x{}", dtype_name(t), a.m, a.l, a.d, a.n);
      Tensor q = in({2, a.m, a.d}, t), k = in({2, a.l, a.d}, t), v = in({2, a.l, a.n}, t);
      Tensor s = matmul(q, k.transpose(1, 2)) * 0.125;
      cs.push_back({name, {matmul(F::softmax(s, -1), v)}});
      Tensor hidden = arange(0, a.l).reshape({1, a.l}) > arange(0, a.m).reshape({a.m, 1});
      Tensor causal = masked_fill(s, hidden, -std::numeric_limits<double>::infinity());
      cs.push_back({name + "_causal", {matmul(F::softmax(causal, -1), v)}});
    }
}

} // namespace

std::vector<Case> cases(bool timing) {
  std::vector<Case> cs;
  elementwise(cs);
  broadcast_and_views(cs);
  reductions(cs);
  rows(cs);
  contractions(cs);
  attention(cs);
  if (timing) { // ../shared/bench/WORKLOADS.md: memory-bound sizes x8 on a GPU, to fill the chip
    Tensor x = in({134217728}), a = in({134217728}), b = in({134217728});
    cs.push_back({"W1_gelu_tanh_128M", {(x * a + b).gelu("tanh")}});
    cs.push_back({"W2_softmax_65536x1024", {F::softmax(in({65536, 1024}), -1)}});
    Tensor y = in({65536, 1024}), w = in({1024}), bb = in({1024});
    cs.push_back({"W3_layernorm_65536x1024", {F::layer_norm(y, {1024}, w, bb)}});
  }
  return cs;
}

std::string to_text(const std::vector<Case>& cs) {
  std::string out;
  for (const Case& c : cs) {
    std::vector<Node*> roots;
    for (const Tensor& t : c.outputs) roots.push_back(t.node().get());
    out += "### " + c.name + "\n" + print_graph(roots) + "\n";
  }
  return out;
}

} // namespace kiln::cuda_sweep
