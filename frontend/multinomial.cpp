// multinomial: draws on the host from the seeded generator, row by row (inverse CDF).
#include "kiln/creation.h"
#include "trace.h"

#include <cmath>

namespace kiln {

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator* gen,
                   Loc loc) {
  trace::require(probs, "multinomial", loc);
  if ((probs.dim() != 1 && probs.dim() != 2) || !is_float(probs.dtype()))
    trace::fail_at(loc, "multinomial", "probs {} must be floating point [C] or [rows, C]",
                   trace::describe(probs));
  int64_t classes = probs.shape().back();
  if (num_samples <= 0 || (!replacement && num_samples > classes))
    trace::fail_at(loc, "multinomial",
                   "cannot draw {} samples from {} {} replacement (expected 0 < num_samples{})",
                   num_samples, trace::describe(probs), replacement ? "with" : "without",
                   replacement ? "" : fmt::format(" <= {}", classes));
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> w = probs.to_vector<double>();
  std::vector<int64_t> out;
  for (size_t row = 0; row < w.size() / static_cast<size_t>(classes); ++row) {
    double* p = &w[row * classes];
    double total = 0;
    int64_t nonzero = 0;
    for (int64_t c = 0; c < classes; ++c) {
      if (!(p[c] >= 0) || std::isinf(p[c]))
        trace::fail_at(loc, "multinomial",
                       "probs {} holds {} at row {}, class {} (expected finite weights >= 0)",
                       trace::describe(probs), p[c], row, c);
      total += p[c];
      nonzero += p[c] > 0;
    }
    if (nonzero == 0 || (!replacement && nonzero < num_samples))
      trace::fail_at(loc, "multinomial",
                     "row {} of probs {} has {} classes of nonzero weight: too few to draw {} {}",
                     row, trace::describe(probs), nonzero, num_samples,
                     replacement ? "with replacement" : "without replacement");
    for (int64_t s = 0; s < num_samples; ++s) {
      double u = g.uniform() * total;
      int64_t c = 0;
      for (; c < classes - 1; ++c) {
        if (u < p[c]) break;
        u -= p[c];
      }
      while (p[c] == 0) --c; // rounding past the last class lands on a zero weight: step back
      out.push_back(c);
      if (!replacement) { // drawn once: its weight leaves the row
        total -= p[c];
        p[c] = 0;
      }
    }
  }
  Shape shape = probs.shape();
  shape.back() = num_samples;
  return tensor(out, shape, loc).to(probs.device(), loc);
}

} // namespace kiln
