// Checks of tensor values that PyTorch raises on: out-of-range indices of ops that gather
// (embedding, losses, one_hot) and integer division by zero are a kiln::Error at the call,
// never a silent zero row. The tensor is realized where it stands (usually data that already
// is) and scanned on the host: cheaper than anything a kernel could report back.
#include "trace.h"

#include <cstring>

namespace kiln::trace {

namespace {

// Calls f(value, position) for each element of an integer tensor, realized first.
template <typename F> void for_each_integer(const Tensor& t, F&& f) {
  auto storage = host_storage(t);
  const char* p = static_cast<const char*>(storage->data);
  dispatch_dtype(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_integral_v<T>)
      for (int64_t i = 0; i < t.numel(); ++i) {
        T v;
        std::memcpy(&v, p + i * sizeof(T), sizeof(T));
        f(static_cast<int64_t>(v), i);
      }
  });
}

} // namespace

void check_indices(const Tensor& indices, int64_t count, std::string_view op, Loc loc) {
  for_each_integer(indices, [&](int64_t x, int64_t i) {
    if (x < 0 || x >= count)
      fail_at(loc, op, "index {} at position {} of {} is out of range (expected 0 <= index < {})",
              x, i, describe(indices), count);
  });
}

void check_nonzero_divisor(const Tensor& divisor, std::string_view op, Loc loc) {
  for_each_integer(divisor, [&](int64_t x, int64_t i) {
    if (x == 0)
      fail_at(loc, op, "integer division by zero (element {} of the divisor {} is 0)", i,
              describe(divisor));
  });
}

} // namespace kiln::trace
