// Printing tensors like PyTorch: nested brackets, summarized when large, then shape and dtype.
#include "kiln/tensor.h"

#include <fmt/format.h>
#include <ostream>

namespace kiln {
namespace {

constexpr int64_t kSummarizeAbove = 1000; // elements, as torch's threshold
constexpr int64_t kEdgeItems = 3;

std::string format_value(double v, DType t) {
  if (t == DType::Bool) return v != 0 ? "True" : "False";
  if (!is_float(t)) return fmt::format("{}", static_cast<int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == std::floor(v) && std::fabs(v) < 1e16) return fmt::format("{:.0f}.", v);
  return fmt::format("{:.4f}", v);
}

void format_rec(std::string& out, const std::vector<double>& v, const Shape& s, size_t d,
                int64_t offset, DType t, bool summarize, int indent) {
  if (d == s.size()) {
    out += format_value(v[offset], t);
    return;
  }
  int64_t stride = 1;
  for (size_t k = d + 1; k < s.size(); ++k) stride *= s[k];
  out += "[";
  for (int64_t i = 0; i < s[d]; ++i) {
    if (summarize && s[d] > 2 * kEdgeItems && i == kEdgeItems) {
      out += d + 1 == s.size() ? "..., " : "...,\n" + std::string(indent + 1, ' ');
      i = s[d] - kEdgeItems;
    }
    format_rec(out, v, s, d + 1, offset + i * stride, t, summarize, indent + 1);
    if (i + 1 < s[d]) out += d + 1 == s.size() ? ", " : ",\n" + std::string(indent + 1, ' ');
  }
  out += "]";
}

} // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> v = to_vector<double>();
  std::string out = "tensor(";
  format_rec(out, v, shape(), 0, 0, dtype(), numel() > kSummarizeAbove, 7);
  return out + fmt::format(", shape={}, dtype={})", shape_str(shape()), dtype_name(dtype()));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

} // namespace kiln
