// Attention: functional::scaled_dot_product_attention and the MultiheadAttention layer, composed
// from kiln ops (matmul, scale, masked softmax, matmul), so fusion and autodiff see primitives.
#pragma once
#include "kiln/nn/layers.h"

#include <optional>

namespace kiln::nn {

struct AttentionOptions {
  // Broadcast to [..., L, S]: a bool mask says which keys each query may attend to (true takes
  // part, as scaled_dot_product_attention's attn_mask; the opposite of torch.nn.
  // MultiheadAttention's bool attn_mask, where true masks out), a float mask is added to the
  // scores.
  Tensor mask{};
  bool causal = false;              // query i attends to keys j <= i (PyTorch's is_causal)
  std::optional<double> scale = {}; // of the scores; 1 / sqrt(E) when not given
};

namespace functional {
// softmax(q @ k^T * scale + mask) @ v for q [..., L, E], k [..., S, E], v [..., S, Ev] (batch
// dimensions broadcast) -> [..., L, Ev], like torch.nn.functional.scaled_dot_product_attention
// (without dropout). A query whose keys are all masked gets NaN, as in PyTorch.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& o = {}, Loc loc = Loc::current());
} // namespace functional

// Multi-head attention over batch-first inputs [..., L, E], like torch.nn.MultiheadAttention
// with batch_first (no dropout, no attention weights returned). Parameters under PyTorch's names:
// in_proj_weight [3E, E] (Xavier uniform), in_proj_bias [3E] (zeros), out_proj (its bias zeros).
class MultiheadAttention : public Module {
public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, bool bias = true,
                     Generator* gen = nullptr);
  using Module::forward;
  // Self-attention of x, unmasked.
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  // query [..., L, E] attends to key and value [..., S, E].
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const AttentionOptions& o = {}, Loc loc = Loc::current());
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;

private:
  int64_t embed_dim_, num_heads_;
};

} // namespace kiln::nn
