// Embedding lookup: functional::embedding and the Embedding layer (rows of a learnable table
// picked by integer indices).
#pragma once
#include "kiln/creation.h"
#include "kiln/nn/module.h"

#include <optional>

namespace kiln::nn {

namespace functional {
// indices [...] (integers in [0, num)), weight [num, dim] -> [..., dim]. The row padding_idx
// (if given) gets no gradient, like PyTorch.
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = {}, Loc loc = Loc::current());
} // namespace functional

class Embedding : public Module {
public:
  // Weight [num_embeddings, embedding_dim] ~ N(0, 1), the padding row zero.
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = {},
            Generator* gen = nullptr);
  Tensor forward(const Tensor& indices, Loc loc = Loc::current()) override;
  Tensor weight;

private:
  std::optional<int64_t> padding_idx_;
};

} // namespace kiln::nn
