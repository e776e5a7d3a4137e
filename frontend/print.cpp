// Printing tensors like PyTorch: nested brackets, summarized when large, then shape and dtype.
#include "kiln/tensor.h"
#include "trace.h"

#include <cstring>
#include <fmt/format.h>
#include <ostream>
#include <type_traits>

namespace kiln {
namespace {

constexpr int64_t kSummarizeAbove = 1000; // elements, as torch's threshold
constexpr int64_t kEdgeItems = 3;

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == std::floor(v) && std::fabs(v) < 1e16) return fmt::format("{:.0f}.", v);
  return fmt::format("{:.4f}", v);
}

// Element `i` of a realized buffer of dtype t, formatted (integers exactly, not via double).
std::string format_element(const void* data, int64_t i, DType t) {
  return dispatch_dtype(t, [&](auto x) -> std::string {
    using U = decltype(x);
    U v;
    std::memcpy(&v, static_cast<const char*>(data) + i * sizeof(U), sizeof(U));
    if constexpr (std::is_same_v<U, bool>)
      return v ? "True" : "False";
    else if constexpr (std::is_integral_v<U>)
      return fmt::format("{}", static_cast<int64_t>(v));
    else
      return format_float(v);
  });
}

void format_rec(std::string& out, const void* data, const Shape& s, size_t d, int64_t offset,
                DType t, bool summarize, int indent) {
  if (d == s.size()) {
    out += format_element(data, offset, t);
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
    format_rec(out, data, s, d + 1, offset + i * stride, t, summarize, indent + 1);
    if (i + 1 < s[d]) out += d + 1 == s.size() ? ", " : ",\n" + std::string(indent + 1, ' ');
  }
  out += "]";
}

} // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  // Read in place (on the host): a summarized print of a large tensor copies nothing.
  auto storage = trace::host_storage(*this);
  std::string out = "tensor(";
  format_rec(out, storage->data, shape(), 0, 0, dtype(), numel() > kSummarizeAbove, 7);
  return out + fmt::format(", shape={}, dtype={})", shape_str(shape()), dtype_name(dtype()));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

} // namespace kiln
