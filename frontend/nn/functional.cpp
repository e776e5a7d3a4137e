// Functional neural-network ops and losses as compositions of primitives.
#include "kiln/nn/functional.h"

#include "../trace.h"

namespace kiln::nn::functional {
using trace::describe;
using trace::fail_at;

namespace {

Tensor reduce(const Tensor& per_item, Reduction r, Loc loc) {
  switch (r) {
  case Reduction::Mean:
    return per_item.mean({}, false, loc);
  case Reduction::Sum:
    return per_item.sum({}, false, loc);
  default:
    return per_item;
  }
}

void check_targets(const char* op, const Tensor& scores, const Tensor& target, Loc loc) {
  trace::require(scores, op, loc);
  trace::require(target, op, loc);
  if (scores.dim() != 2 || !is_float(scores.dtype()))
    fail_at(loc, op, "input {} must be floating point [N, C]", describe(scores));
  if (target.dim() != 1 || target.shape()[0] != scores.shape()[0] || is_float(target.dtype()) ||
      target.dtype() == DType::Bool)
    fail_at(loc, op, "target {} must hold N = {} class indices (integers) for input {}",
            describe(target), scores.shape()[0], describe(scores));
  trace::check_indices(target, scores.shape()[1], op, loc);
}

// x - max(x) along axis: the shift that keeps exp() finite. It cancels in softmax's value and
// needs no gradient. An empty x has no max (and nothing to shift), as in PyTorch.
Tensor shift_by_max(const Tensor& x, int64_t axis, Loc loc) {
  if (x.numel() == 0) return x;
  return sub(Operand(x, loc), Operand(x.max({axis}, true, loc).detach(loc), loc));
}

// The argument checks of composite ops: a bad call names the op the user called, not the
// primitive (add, matmul, max) that would fail inside it.
void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Loc loc) {
  trace::require(x, "linear", loc);
  trace::require(weight, "linear", loc);
  if (weight.dim() != 2 || x.dim() < 1 || x.shape().back() != weight.shape()[1])
    fail_at(loc, "linear",
            "input {} and weight {} do not fit: expected input [..., in_features] and weight "
            "[out_features, in_features]",
            describe(x), describe(weight));
  if (bias.defined() &&
      (bias.dim() > 1 || (bias.dim() == 1 && bias.shape()[0] != weight.shape()[0])))
    fail_at(loc, "linear", "bias {} must be [out_features] = [{}] for weight {}", describe(bias),
            weight.shape()[0], describe(weight));
}

void check_affine(const Tensor& t, const char* what, const Shape& normalized_shape, Loc loc) {
  if (t.defined() && t.shape() != normalized_shape)
    fail_at(loc, "layer_norm", "{} {} must have the normalized shape {}", what, describe(t),
            shape_str(normalized_shape));
}

} // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Loc loc) {
  check_linear(x, weight, bias, loc);
  trace::LabelScope label("linear");
  Tensor y = matmul(x, weight.transpose(0, 1, loc), loc);
  return bias.defined() ? add(Operand(y, loc), Operand(bias, loc)) : y;
}

Tensor softmax(const Tensor& x, int64_t axis, Loc loc) {
  trace::LabelScope label("softmax");
  Tensor f = trace::floating(x, "softmax", loc);
  axis = trace::normalize_axis(axis, x.dim(), "softmax", loc);
  Tensor e = shift_by_max(f, axis, loc).exp(loc);
  // One reciprocal per row and a multiply per element, as PyTorch's CPU kernel does (a division
  // per element costs more than the exp; within an ulp of e / sum).
  return mul(Operand(e, loc), Operand(e.sum({axis}, true, loc).reciprocal(loc), loc));
}

Tensor log_softmax(const Tensor& x, int64_t axis, Loc loc) {
  trace::LabelScope label("log_softmax");
  Tensor f = trace::floating(x, "log_softmax", loc);
  axis = trace::normalize_axis(axis, x.dim(), "log_softmax", loc);
  Tensor shifted = shift_by_max(f, axis, loc);
  Tensor lse = shifted.exp(loc).sum({axis}, true, loc).log(loc);
  return sub(Operand(shifted, loc), Operand(lse, loc));
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen, Loc loc) {
  if (p < 0 || p >= 1) fail_at(loc, "dropout", "probability {} is outside [0, 1)", p);
  if (!training || p == 0) return x;
  trace::LabelScope label("dropout");
  // The mask is drawn on the host from the seeded generator: a new input each step, same program.
  Tensor mask = rand(x.shape(), {.device = x.device()}, gen, loc);
  Tensor keep = lt(Operand(mask, loc), Operand(1 - p, loc));
  return mul(Operand(where(Operand(keep, loc), Operand(x, loc), Operand(0, loc)), loc),
             Operand(1 / (1 - p), loc));
}

Tensor layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps, Loc loc) {
  trace::LabelScope label("layer_norm");
  Tensor x = trace::floating(x_in, "layer_norm", loc); // before: an integer x failed in [mean]
  int64_t k = static_cast<int64_t>(normalized_shape.size());
  if (k > x.dim() ||
      !std::equal(normalized_shape.begin(), normalized_shape.end(), x.shape().end() - k))
    fail_at(loc, "layer_norm", "normalized shape {} is not the trailing shape of {}",
            shape_str(normalized_shape), describe(x));
  check_affine(weight, "weight", normalized_shape, loc);
  check_affine(bias, "bias", normalized_shape, loc);
  std::vector<int64_t> axes;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) axes.push_back(d);
  Tensor mu = x.mean(axes, true, loc);
  Tensor d = sub(Operand(x, loc), Operand(mu, loc));
  Tensor var = mul(Operand(d, loc), Operand(d, loc)).mean(axes, true, loc);
  Tensor y =
      mul(Operand(d, loc), Operand(add(Operand(var, loc), Operand(eps, loc)).rsqrt(loc), loc));
  if (weight.defined()) y = mul(Operand(y, loc), Operand(weight, loc));
  if (bias.defined()) y = add(Operand(y, loc), Operand(bias, loc));
  return y;
}

Tensor one_hot(const Tensor& indices, int64_t classes, DType dtype, Loc loc) {
  trace::require(indices, "one_hot", loc);
  if (is_float(indices.dtype()) || indices.dtype() == DType::Bool)
    fail_at(loc, "one_hot", "indices {} must be integers", describe(indices));
  if (classes < -1)
    fail_at(loc, "one_hot", "classes {} must be >= 0, or -1 to take indices.max() + 1", classes);
  if (classes == -1) // PyTorch's default: as many classes as the largest index needs
    classes = indices.numel() ? indices.max({}, false, loc).item<int64_t>(loc) + 1 : 0;
  trace::check_indices(indices, classes, "one_hot", loc);
  return trace::one_hot(indices, classes, indices.dim(), loc).to(dtype, loc);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r, Loc loc) {
  check_targets("nll_loss", log_probs, target, loc);
  trace::LabelScope label("nll_loss");
  // Selected, not multiplied by the one-hot: a class masked out with a -inf logit has a -inf
  // log-probability, and -inf * 0 would make every loss NaN (PyTorch's stays finite).
  Tensor hot = trace::one_hot(target, log_probs.shape()[1], 1, loc); // target checked above
  Tensor picked = where(Operand(hot, loc), Operand(log_probs, loc), Operand(0, loc));
  return reduce(picked.sum({1}, false, loc).neg(loc), r, loc);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r, Loc loc) {
  check_targets("cross_entropy", logits, target, loc);
  trace::LabelScope label("cross_entropy");
  return nll_loss(log_softmax(logits, 1, loc), target, r, loc);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r, Loc loc) {
  trace::require(input, "mse_loss", loc);
  trace::require(target, "mse_loss", loc);
  if (input.shape() != target.shape())
    fail_at(loc, "mse_loss", "input {} and target {} differ in shape", describe(input),
            describe(target));
  trace::LabelScope label("mse_loss");
  // Integers as f32 (before: they failed in [mean]).
  Tensor d = sub(Operand(trace::floating(input, "mse_loss", loc), loc),
                 Operand(trace::floating(target, "mse_loss", loc), loc));
  return reduce(mul(Operand(d, loc), Operand(d, loc)), r, loc);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r,
                                        Loc loc) {
  trace::require(logits, "binary_cross_entropy_with_logits", loc);
  trace::require(target, "binary_cross_entropy_with_logits", loc);
  if (logits.shape() != target.shape())
    fail_at(loc, "binary_cross_entropy_with_logits", "logits {} and target {} differ in shape",
            describe(logits), describe(target));
  trace::LabelScope label("binary_cross_entropy_with_logits");
  // max(x, 0) - x * t + log(1 + e^-|x|): stable for large |x|.
  Tensor x = logits;
  Tensor loss = add(Operand(sub(Operand(x.relu(loc), loc),
                                Operand(mul(Operand(x, loc), Operand(target, loc)), loc)),
                            loc),
                    Operand(x.abs(loc).neg(loc).exp(loc).log1p(loc), loc));
  return reduce(loss, r, loc);
}

} // namespace kiln::nn::functional
