// Gradient clipping by the global norm, built lazily into the next step's program.
#include "kiln/nn/clip_grad.h"

#include "../trace.h"

#include <cmath>

namespace kiln::nn::utils {

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, Loc loc) {
  if (!(max_norm >= 0) || std::isinf(max_norm))
    trace::fail_at(loc, "clip_grad_norm_", "max_norm {} must be finite and >= 0", max_norm);
  NoGradGuard no_grad;
  trace::LabelScope label("clip_grad_norm_");
  DType dtype = DType::F32; // f64 when any gradient is
  for (const Tensor& p : parameters) {
    trace::require(p, "clip_grad_norm_", loc);
    if (p.grad().defined() && p.grad().dtype() == DType::F64) dtype = DType::F64;
  }
  Tensor squares = trace::constant(0, dtype, loc);
  for (const Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    Tensor g = trace::cast(p.grad(), dtype, loc);
    Tensor s = mul(Operand(g, loc), Operand(g, loc)).sum({}, false, loc);
    squares = add(Operand(squares, loc), Operand(s, loc));
  }
  Tensor norm = squares.sqrt(loc);
  // A kernel parameter, so another bound reuses the program (numbers in a label are literals).
  Tensor bound = trace::constant(max_norm, dtype, loc, /*param=*/true);
  Tensor room = div(Operand(bound, loc), Operand(add(Operand(norm, loc), Operand(1e-6, loc)), loc));
  Tensor coef = minimum(Operand(room, loc), Operand(1.0, loc));
  for (const Tensor& p : parameters) {
    Tensor g = p.grad();
    if (g.defined())
      set_grad(p, mul(Operand(g, loc), Operand(trace::cast(coef, g.dtype(), loc), loc)));
  }
  return norm;
}

} // namespace kiln::nn::utils
