// Printing tensors like PyTorch: nested brackets, summarized when large, then shape and dtype.
// Every element of one tensor shares one format and width, chosen as torch's _Formatter does.
#include "kiln/tensor.h"
#include "trace.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <limits>
#include <ostream>
#include <type_traits>

namespace kiln {
namespace {

constexpr int64_t kSummarizeAbove = 1000; // elements, as torch's threshold
constexpr int64_t kEdgeItems = 3;
constexpr int kPrecision = 4; // torch's default print precision

// How the floats of one tensor print: integers as "3.", else fixed "0.1235", or "1.2346e-05"
// when the magnitudes of the finite nonzero values span more than fixed notation shows.
struct FloatFormat {
  bool int_mode = true;
  bool sci = false;
};

std::string render_float(double v, const FloatFormat& f) {
  if (std::isnan(v)) return "nan"; // fmt would spell a NaN with its sign bit "-nan"
  if (f.sci) return fmt::format("{:.{}e}", v, kPrecision);
  if (f.int_mode) return fmt::format("{:.0f}", v) + (std::isinf(v) ? "" : ".");
  return fmt::format("{:.{}f}", v, kPrecision);
}

FloatFormat choose_float_format(const std::vector<double>& values) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  FloatFormat f;
  for (double v : values) {
    if (!std::isfinite(v) || v == 0) continue;
    lo = std::min(lo, std::fabs(v));
    hi = std::max(hi, std::fabs(v));
    f.int_mode = f.int_mode && v == std::ceil(v);
  }
  if (hi > 0) f.sci = hi / lo > 1000 || hi > 1e8 || (!f.int_mode && lo < 1e-4);
  return f;
}

// Element `i` of a realized buffer of dtype t, as a double or (integers, exactly) as text.
double read_float(const void* data, int64_t i, DType t) {
  return dispatch_dtype(t, [&](auto x) -> double {
    using U = decltype(x);
    U v;
    std::memcpy(&v, static_cast<const char*>(data) + i * sizeof(U), sizeof(U));
    return static_cast<double>(v);
  });
}

std::string read_exact(const void* data, int64_t i, DType t) {
  return dispatch_dtype(t, [&](auto x) -> std::string {
    using U = decltype(x);
    U v;
    std::memcpy(&v, static_cast<const char*>(data) + i * sizeof(U), sizeof(U));
    if constexpr (std::is_same_v<U, bool>)
      return v ? "True" : "False";
    else
      return fmt::format("{}", static_cast<int64_t>(v));
  });
}

// The printed elements' texts, in print order, right-aligned to one width as torch does.
std::vector<std::string> format_cells(const void* data, const std::vector<int64_t>& offsets,
                                      DType t) {
  std::vector<std::string> cells;
  cells.reserve(offsets.size());
  size_t width = 1;
  if (is_float(t)) {
    std::vector<double> values;
    for (int64_t o : offsets) values.push_back(read_float(data, o, t));
    FloatFormat f = choose_float_format(values);
    for (double v : values) {
      cells.push_back(render_float(v, f));
      if (std::isfinite(v) && v != 0) width = std::max(width, cells.back().size());
    }
  } else {
    for (int64_t o : offsets) {
      cells.push_back(read_exact(data, o, t));
      width = std::max(width, cells.back().size());
    }
  }
  for (auto& c : cells) c.insert(0, width - std::min(width, c.size()), ' ');
  return cells;
}

// Writes the brackets of shape s from dim d on; `cell(offset)` gives each shown element's text.
void format_rec(std::string& out, const Shape& s, size_t d, int64_t offset, bool summarize,
                int indent, const std::function<std::string(int64_t)>& cell) {
  if (d == s.size()) {
    out += cell(offset);
    return;
  }
  int64_t stride = 1;
  for (size_t k = d + 1; k < s.size(); ++k) stride *= s[k];
  // As torch: elements side by side, rows one per line, 2-D blocks apart by a blank line, ...
  std::string sep = d + 1 == s.size()
                        ? ", "
                        : "," + std::string(s.size() - d - 1, '\n') + std::string(indent + 1, ' ');
  out += "[";
  for (int64_t i = 0; i < s[d]; ++i) {
    if (summarize && s[d] > 2 * kEdgeItems && i == kEdgeItems) {
      out += (d + 1 == s.size() ? " ..." : "...") + sep; // torch's two spaces in a row
      i = s[d] - kEdgeItems;
    }
    format_rec(out, s, d + 1, offset + i * stride, summarize, indent + 1, cell);
    if (i + 1 < s[d]) out += sep;
  }
  out += "]";
}

} // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  // Read in place (on the host): a summarized print of a large tensor copies nothing.
  auto storage = trace::host_storage(*this);
  bool summarize = numel() > kSummarizeAbove;
  // First walk: which elements show (the format depends on them alone, as in torch).
  std::vector<int64_t> offsets;
  std::string skeleton;
  format_rec(skeleton, shape(), 0, 0, summarize, 7, [&](int64_t o) {
    offsets.push_back(o);
    return std::string();
  });
  std::vector<std::string> cells = format_cells(storage->data, offsets, dtype());
  size_t next = 0;
  std::string out = "tensor(";
  if (numel() == 0) // [] whatever the shape, as torch prints it (not [[], []])
    out += "[]";
  else
    format_rec(out, shape(), 0, 0, summarize, 7, [&](int64_t) { return cells[next++]; });
  return out + fmt::format(", shape={}, dtype={})", shape_str(shape()), dtype_name(dtype()));
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

} // namespace kiln
