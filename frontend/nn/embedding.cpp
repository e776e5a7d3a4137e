// Embedding as a one-hot matmul: differentiable with the primitives' rules (the gradient of
// the table is one_hot^T @ grad), and fast for the table sizes of small models.
#include "kiln/nn/embedding.h"

#include "../trace.h"
#include "kiln/nn/functional.h"

namespace kiln::nn {
using trace::describe;
using trace::fail_at;

Tensor functional::embedding(const Tensor& indices, const Tensor& weight,
                             std::optional<int64_t> padding_idx, Loc loc) {
  trace::require(indices, "embedding", loc);
  trace::require(weight, "embedding", loc);
  if (is_float(indices.dtype()) || indices.dtype() == DType::Bool)
    fail_at(loc, "embedding", "indices {} must be integers", describe(indices));
  if (weight.dim() != 2 || !is_float(weight.dtype()))
    fail_at(loc, "embedding", "weight {} must be floating point [num_embeddings, dim]",
            describe(weight));
  int64_t num = weight.shape()[0];
  if (padding_idx && (*padding_idx < -num || *padding_idx >= num))
    fail_at(loc, "embedding", "padding_idx {} is out of range for {} embeddings", *padding_idx,
            num);
  trace::check_indices(indices, num, "embedding", loc);
  trace::LabelScope label("embedding");
  Tensor hot = trace::one_hot(indices, num, indices.dim(), loc).to(weight.dtype(), loc);
  Tensor table = weight;
  if (padding_idx) { // the padding row reads as stored but passes no gradient back
    int64_t p = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
    Tensor keep =
        ne(Operand(arange(0, static_cast<double>(num), 1, DType::I64, loc).to(weight.device(), loc),
                   loc),
           Operand(p, loc))
            .reshape({num, 1}, loc);
    table = where(Operand(keep, loc), Operand(weight, loc), Operand(weight.detach(loc), loc));
  }
  return matmul(hot, table, loc);
}

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding_idx, Generator* gen)
    : padding_idx_(padding_idx) {
  if (num <= 0 || dim <= 0)
    throw Error(fmt::format("[Embedding] sizes must be positive, got {} x {}", num, dim));
  if (padding_idx && (*padding_idx < -num || *padding_idx >= num))
    throw Error(fmt::format("[Embedding] padding_idx {} is out of range for {} embeddings",
                            *padding_idx, num));
  Tensor w = randn({num, dim}, DType::F32, gen);
  if (padding_idx) {
    int64_t p = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
    Tensor keep = ne(arange(0, static_cast<double>(num), 1, DType::I64), p).reshape({num, 1});
    w = where(keep, w, 0);
  }
  weight = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& indices, Loc loc) {
  return functional::embedding(indices, weight, padding_idx_, loc);
}

} // namespace kiln::nn
