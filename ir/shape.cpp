#include "ir/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

bool shape_fits(const Shape& s, size_t elem_size) {
  int64_t bytes = static_cast<int64_t>(elem_size);
  for (int64_t d : s) {
    if (d < 0) return false;
    // bytes < 2^62 before each step, so one overflow check per extent is enough.
    if (d > 1 && (__builtin_mul_overflow(bytes, d, &bytes) || bytes >= kMaxTensorBytes))
      return false;
  }
  return bytes < kMaxTensorBytes;
}

std::string shape_problem(const Shape& s, size_t elem_size) {
  if (shape_fits(s, elem_size)) return "";
  for (int64_t d : s)
    if (d < 0) return fmt::format("shape {} has a negative extent (expected >= 0)", shape_str(s));
  return fmt::format("shape {} of {}-byte elements is too large (expected at most 2^62 bytes)",
                     shape_str(s), elem_size);
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

} // namespace kiln
