// kiln::nn::functional: stateless neural-network ops, composed from kiln primitives (their
// nodes keep the op's name for dumps and profiles; autodiff differentiates the primitives).
#pragma once
#include "kiln/creation.h"
#include "kiln/tensor.h"

namespace kiln::nn::functional {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Loc loc = Loc::current());
Tensor softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr,
               Loc loc = Loc::current());
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5, Loc loc = Loc::current());
// indices [...] -> [..., classes]; classes -1 (PyTorch's default) takes indices.max() + 1, which
// reads the indices (realizes them). An index outside [0, classes) is a kiln::Error.
Tensor one_hot(const Tensor& indices, int64_t classes, DType dtype = DType::F32,
               Loc loc = Loc::current());

enum class Reduction { Mean, Sum, None };
// Class-index targets (integers in [0, C)), logits [N, C]; stable log_softmax + nll.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::Mean,
                     Loc loc = Loc::current());
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r = Reduction::Mean,
                Loc loc = Loc::current());
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::Mean,
                Loc loc = Loc::current());
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction r = Reduction::Mean, Loc loc = Loc::current());

} // namespace kiln::nn::functional
