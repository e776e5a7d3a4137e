// topk: the selection is made on the host over the realized input; the values are gathered from
// the input lazily, so gradients reach it through gather's primitives.
#include "kiln/creation.h"
#include "trace.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiln {

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t axis, bool largest, Loc loc) {
  trace::require(x, "topk", loc);
  if (x.dim() == 0) trace::fail_at(loc, "topk", "input {} must have an axis", trace::describe(x));
  int64_t a = trace::normalize_axis(axis, x.dim(), "topk", loc);
  int64_t n = x.shape()[a];
  if (k < 0 || k > n)
    trace::fail_at(loc, "topk", "k = {} is out of range for axis {} of {} (expected 0 <= k <= {})",
                   k, axis, trace::describe(x), n);
  // Rows along the selection axis, contiguous on the host.
  Tensor rows = x.realize().detach(loc).transpose(a, -1, loc);
  std::vector<double> v = rows.to_vector<double>();
  std::vector<int64_t> picked;
  picked.reserve(v.size() / std::max<int64_t>(n, 1) * k);
  std::vector<int64_t> order(n);
  for (size_t start = 0; start < v.size(); start += n) {
    const double* row = &v[start];
    // NaN counts as the largest value, as in PyTorch; ties keep index order.
    auto first = [row, largest](int64_t i, int64_t j) {
      bool ni = std::isnan(row[i]), nj = std::isnan(row[j]);
      if (ni != nj) return largest ? ni : nj;
      if (!ni && row[i] != row[j]) return largest ? row[i] > row[j] : row[i] < row[j];
      return i < j;
    };
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), first);
    picked.insert(picked.end(), order.begin(), order.begin() + k);
  }
  Shape shape = rows.shape();
  shape.back() = k;
  Tensor indices = tensor(picked, shape, loc).to(x.device(), loc).transpose(a, -1, loc).realize();
  return {gather(x, a, indices, loc), indices};
}

} // namespace kiln
