// Scaled dot-product attention and multi-head attention as compositions of kiln ops.
#include "kiln/nn/attention.h"

#include "../trace.h"
#include "kiln/nn/init.h"

#include <cmath>
#include <limits>

namespace kiln::nn {
using trace::describe;
using trace::fail_at;

namespace {

constexpr const char* kSdpa = "scaled_dot_product_attention";

// Leading (batch) dimensions of x, without its last two.
Shape batch_of(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o,
                     Loc loc) {
  for (const Tensor* t : {&q, &k, &v}) trace::require(*t, kSdpa, loc);
  for (const Tensor* t : {&q, &k, &v})
    if (t->dim() < 2 || !is_float(t->dtype()) || t->dtype() != q.dtype())
      fail_at(loc, kSdpa,
              "q {}, k {} and v {} must be floating point of one dtype, each [..., length, dim]",
              describe(q), describe(k), describe(v));
  if (q.shape().back() != k.shape().back() || k.shape()[k.dim() - 2] != v.shape()[v.dim() - 2])
    fail_at(loc, kSdpa,
            "q {}, k {} and v {} do not fit: expected q [..., L, E], k [..., S, E], v [..., S, Ev]",
            describe(q), describe(k), describe(v));
  Shape scores = trace::broadcast_shapes(batch_of(q), batch_of(k), kSdpa, loc);
  trace::broadcast_shapes(scores, batch_of(v), kSdpa, loc);
  scores.push_back(q.shape()[q.dim() - 2]);
  scores.push_back(k.shape()[k.dim() - 2]);
  if (o.mask.defined() && o.causal)
    fail_at(loc, kSdpa, "a mask {} and causal are exclusive (fold the causal part into the mask)",
            describe(o.mask));
  if (o.mask.defined() && o.mask.dtype() != DType::Bool && o.mask.dtype() != q.dtype())
    fail_at(loc, kSdpa, "mask {} must be bool or of q's dtype {}", describe(o.mask),
            dtype_name(q.dtype()));
  // The mask broadcasts to the scores: aligned from the right, each dim equal or 1.
  auto mask_fits = [&] {
    const Shape& m = o.mask.shape();
    if (m.size() > scores.size()) return false;
    for (size_t i = 1; i <= m.size(); ++i)
      if (m[m.size() - i] != 1 && m[m.size() - i] != scores[scores.size() - i]) return false;
    return true;
  };
  if (o.mask.defined() && !mask_fits())
    fail_at(loc, kSdpa, "mask {} does not broadcast to the scores [..., L, S] {}", describe(o.mask),
            shape_str(scores));
}

} // namespace

Tensor functional::scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                const AttentionOptions& o, Loc loc) {
  check_attention(q, k, v, o, loc);
  trace::LabelScope label(kSdpa);
  int64_t l = q.shape()[q.dim() - 2], s = k.shape()[k.dim() - 2];
  double scale = o.scale.value_or(1 / std::sqrt(static_cast<double>(q.shape().back())));
  Tensor scores = mul(Operand(matmul(q, k.transpose(-2, -1, loc), loc), loc), Operand(scale, loc));
  const double minus_inf = -std::numeric_limits<double>::infinity();
  if (o.causal)
    scores = masked_fill(scores, triu(ones({l, s}, DType::Bool, loc), 1, loc), minus_inf, loc);
  if (o.mask.defined())
    scores = o.mask.dtype() == DType::Bool
                 ? masked_fill(scores, o.mask.logical_not(loc), minus_inf, loc)
                 : add(Operand(scores, loc), Operand(o.mask, loc));
  return matmul(softmax(scores, -1, loc), v, loc);
}

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool bias,
                                       Generator* gen)
    : embed_dim_(embed_dim), num_heads_(num_heads) {
  if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
    throw Error(fmt::format("[MultiheadAttention] embed_dim {} must be a positive multiple of "
                            "num_heads {}",
                            embed_dim, num_heads));
  in_proj_weight = register_parameter(
      "in_proj_weight",
      init::xavier_uniform({3 * embed_dim, embed_dim}, embed_dim, 3 * embed_dim, 1.0, gen));
  if (bias) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias, gen));
  if (bias) out_proj->bias.assign(zeros({embed_dim}).realize().detach()); // a leaf, as before
}

Tensor MultiheadAttention::forward(const Tensor& x, Loc loc) { return forward(x, x, x, {}, loc); }

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionOptions& o, Loc loc) {
  const char* op = "MultiheadAttention";
  for (const Tensor* t : {&query, &key, &value}) {
    trace::require(*t, op, loc);
    if (t->dim() < 2 || t->shape().back() != embed_dim_)
      fail_at(loc, op, "query {}, key {} and value {} must be [..., length, {}]", describe(query),
              describe(key), describe(value), embed_dim_);
  }
  int64_t e = embed_dim_;
  auto part = [&](const Tensor& t, int64_t i) {
    return t.defined() ? t.slice(0, i * e, (i + 1) * e, 1, loc) : t;
  };
  // Three products, not one over the stacked weight: the gradient of slices of one product would
  // add three padded, head-transposed views, a slow gather; here each is a plain product.
  Tensor q = functional::linear(query, part(in_proj_weight, 0), part(in_proj_bias, 0), loc);
  Tensor k = functional::linear(key, part(in_proj_weight, 1), part(in_proj_bias, 1), loc);
  Tensor v = functional::linear(value, part(in_proj_weight, 2), part(in_proj_bias, 2), loc);
  // [..., L, E] -> [..., H, L, E / H] and back.
  auto split = [&](const Tensor& t) {
    Shape s = t.shape();
    s.back() = num_heads_;
    s.push_back(e / num_heads_);
    return t.reshape(s, loc).transpose(-3, -2, loc);
  };
  Tensor heads = functional::scaled_dot_product_attention(split(q), split(k), split(v), o, loc);
  Tensor merged = heads.transpose(-3, -2, loc);
  Shape s = merged.shape();
  s.pop_back();
  s.back() = e;
  return (*out_proj)(merged.reshape(s, loc), loc);
}

} // namespace kiln::nn
