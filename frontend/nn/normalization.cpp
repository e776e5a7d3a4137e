// Batch and layer normalization, composed from reductions and elementwise ops.
#include "kiln/nn/normalization.h"

#include "../trace.h"
#include "kiln/creation.h"
#include "kiln/nn/functional.h"

namespace kiln::nn {
using trace::describe;
using trace::fail_at;

namespace {

// Per-channel [C] statistics reshaped to broadcast against [N, C, 1, ...].
Tensor per_channel(const Tensor& v, int64_t rank, Loc loc) {
  Shape s(rank, 1);
  s[1] = v.numel();
  return v.reshape(s, loc);
}

void check_stat(const Tensor& t, const char* what, int64_t C, const Tensor& x, Loc loc) {
  if (t.defined() && (t.dim() != 1 || t.shape()[0] != C))
    fail_at(loc, "batch_norm", "{} {} must be [{}] for input {}", what, describe(t), C,
            describe(x));
}

// A float kernel parameter (not baked into the program), so changing it never recompiles.
Tensor param(double v, DType t, Loc loc) { return trace::constant(v, t, loc, /*param=*/true); }

struct Normalized {
  Tensor y, mean, var; // mean and var: the batch statistics [1, C, 1, ...] when training
};

Normalized batch_norm_impl(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                           const Tensor& weight, const Tensor& bias, bool training, double momentum,
                           double eps, Loc loc) {
  trace::require(x, "batch_norm", loc);
  if (x.dim() < 2 || !is_float(x.dtype()))
    fail_at(loc, "batch_norm", "input {} must be floating point [N, C, ...]", describe(x));
  int64_t C = x.shape()[1];
  check_stat(running_mean, "running_mean", C, x, loc);
  check_stat(running_var, "running_var", C, x, loc);
  check_stat(weight, "weight", C, x, loc);
  check_stat(bias, "bias", C, x, loc);
  if (running_mean.defined() != running_var.defined())
    fail_at(loc, "batch_norm", "running_mean and running_var must be given together");
  if (!training && !running_mean.defined())
    fail_at(loc, "batch_norm", "eval mode needs running_mean and running_var");
  trace::LabelScope label("batch_norm");
  int64_t r = x.dim();
  std::vector<int64_t> axes{0};
  for (int64_t d = 2; d < r; ++d) axes.push_back(d);
  Tensor mean, var;
  if (training) {
    int64_t n = x.numel() / std::max<int64_t>(C, 1);
    if (n <= 1)
      fail_at(loc, "batch_norm", "training needs more than 1 value per channel, got input {}",
              describe(x));
    mean = x.mean(axes, true, loc);
    Tensor d = sub(Operand(x, loc), Operand(mean, loc));
    var = mul(Operand(d, loc), Operand(d, loc)).mean(axes, true, loc);
    if (running_mean.defined()) {
      NoGradGuard no_grad;
      Tensor m = param(momentum, x.dtype(), loc), keep = param(1 - momentum, x.dtype(), loc);
      Tensor unbiased = mul(Operand(var.detach(loc).reshape({C}, loc), loc),
                            Operand(param(double(n) / double(n - 1), x.dtype(), loc), loc));
      Tensor rm = running_mean, rv = running_var; // handles share the tensor: assign updates it
      rm.assign(
          add(Operand(mul(Operand(rm, loc), Operand(keep, loc)), loc),
              Operand(mul(Operand(mean.detach(loc).reshape({C}, loc), loc), Operand(m, loc)), loc))
              .to(rm.dtype(), loc),
          loc);
      rv.assign(add(Operand(mul(Operand(rv, loc), Operand(keep, loc)), loc),
                    Operand(mul(Operand(unbiased, loc), Operand(m, loc)), loc))
                    .to(rv.dtype(), loc),
                loc);
    }
  } else {
    mean = per_channel(running_mean, r, loc);
    var = per_channel(running_var, r, loc);
  }
  Tensor inv = add(Operand(var, loc), Operand(param(eps, x.dtype(), loc), loc)).rsqrt(loc);
  Tensor y = mul(Operand(sub(Operand(x, loc), Operand(mean, loc)), loc), Operand(inv, loc));
  if (weight.defined()) y = mul(Operand(y, loc), Operand(per_channel(weight, r, loc), loc));
  if (bias.defined()) y = add(Operand(y, loc), Operand(per_channel(bias, r, loc), loc));
  return {y, training ? mean : Tensor(), training ? var : Tensor()};
}

} // namespace

Tensor functional::batch_norm(const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& weight, const Tensor& bias,
                              bool training, double momentum, double eps, Loc loc) {
  return batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps, loc)
      .y;
}

BatchNorm2d::BatchNorm2d(int64_t num_features, BatchNormOptions o)
    : o_(o), num_features_(num_features) {
  if (num_features <= 0)
    throw Error(fmt::format("[BatchNorm2d] num_features must be positive, got {}", num_features));
  if (o.affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (o.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::I64));
  }
}

// The running statistics a training step assigned are lazy expressions of the batch
// statistics that step's program wrote (held in batch_mean_/batch_var_). Computing them now
// and restarting from plain buffers keeps each step's graph the same size.
void BatchNorm2d::settle_running_stats() {
  if (!o_.track_running_stats || running_mean.node()->inputs.empty()) return;
  realize({running_mean, running_var, num_batches_tracked});
  running_mean.assign(running_mean.detach());
  running_var.assign(running_var.detach());
  num_batches_tracked.assign(num_batches_tracked.detach());
  batch_mean_ = batch_var_ = Tensor();
}

Tensor BatchNorm2d::forward(const Tensor& x, Loc loc) {
  settle_running_stats();
  if (x.defined() && x.dim() != 4)
    trace::fail_at(loc, "BatchNorm2d", "expected input [N, C, H, W], got {}", describe(x));
  bool use_batch = is_training() || !o_.track_running_stats;
  Tensor rm = running_mean, rv = running_var;
  double momentum = o_.momentum.value_or(0);
  if (is_training() && o_.track_running_stats) {
    int64_t seen = num_batches_tracked.item<int64_t>() + 1;
    num_batches_tracked.assign(from_blob(&seen, {}, DType::I64)); // a plain 0-d buffer
    if (!o_.momentum) momentum = 1.0 / static_cast<double>(seen);
  } else if (!is_training() && !o_.track_running_stats) {
    rm = rv = Tensor();
  }
  Normalized r = batch_norm_impl(x, rm, rv, weight, bias, use_batch, momentum, o_.eps, loc);
  if (use_batch && rm.defined()) {
    // Hold the batch statistics the running ones are computed from: the training step's
    // program then writes them, instead of the next step recomputing this forward pass.
    batch_mean_ = r.mean;
    batch_var_ = r.var;
  }
  return r.y;
}

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool affine)
    : shape_(std::move(normalized_shape)), eps_(eps) {
  if (affine) {
    weight = register_parameter("weight", ones(shape_));
    bias = register_parameter("bias", zeros(shape_));
  }
}

Tensor LayerNorm::forward(const Tensor& x, Loc loc) {
  return functional::layer_norm(x, shape_, weight, bias, eps_, loc);
}

} // namespace kiln::nn
