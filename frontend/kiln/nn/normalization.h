// Normalization: batch_norm / BatchNorm2d (running statistics as buffers) and LayerNorm.
#pragma once
#include "kiln/nn/module.h"

#include <optional>

namespace kiln::nn {

namespace functional {
// x [N, C, ...], statistics per channel (axis 1). Training: normalizes with the batch mean and
// biased variance and, when running_mean/running_var are given, assigns them
// (1 - momentum) * running + momentum * batch (the variance unbiased), lazily. Otherwise
// normalizes with the running statistics. Like torch.nn.functional.batch_norm.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5,
                  Loc loc = Loc::current());
} // namespace functional

struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1; // none: cumulative average over all batches seen
  bool affine = true;                   // learnable weight (ones) and bias (zeros)
  bool track_running_stats = true;      // buffers running_mean, running_var, num_batches_tracked
};

// Over [N, C, H, W] (any [N, C, ...] works). In eval mode it normalizes with the running
// statistics (or the batch's when they are not tracked).
class BatchNorm2d : public Module {
public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions o = {});
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

private:
  void settle_running_stats();
  BatchNormOptions o_;
  int64_t num_features_;
  Tensor batch_mean_, batch_var_; // held, so the training step's program writes them
};

class LayerNorm : public Module {
public:
  // Normalizes over the trailing normalized_shape; weight ones and bias zeros of that shape.
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x, Loc loc = Loc::current()) override;
  Tensor weight, bias;

private:
  Shape shape_;
  double eps_;
};

} // namespace kiln::nn
