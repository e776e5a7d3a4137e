// Tensor creation: host data, constants, ranges, identity and seeded random tensors.
#include "kiln/creation.h"

#include "codegen/host/allocator.h"
#include "trace.h"

#include <cmath>
#include <cstring>

namespace kiln {
using trace::fail_at;

namespace {

void check_shape(const Shape& s, DType dtype, const char* op, Loc loc) {
  if (!shape_fits(s, dtype_size(dtype)))
    fail_at(loc, op, "{} ({})", shape_problem(s, dtype_size(dtype)), dtype_name(dtype));
}

// A realized tensor whose buffer fill() writes as T.
template <typename T, typename F>
Tensor host_tensor(const Shape& shape, DType dtype, F fill, Loc loc,
                   Device device = trace::default_device()) {
  const int64_t n = numel(shape);
  auto storage = cpu_alloc(static_cast<size_t>(n) * dtype_size(dtype));
  dispatch_dtype(dtype, [&](auto x) {
    using U = decltype(x);
    U* p = static_cast<U*>(storage->data);
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<U>(fill(i));
  });
  return Tensor(make_buffer_node(dtype, shape, std::move(storage), loc, device));
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

} // namespace

void Generator::seed_(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Generator::next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  // Box-Muller; 1 - u keeps log() finite.
  double u = 1.0 - uniform(), v = uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().seed_(seed); }

template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<Shape> shape, Loc loc) {
  Shape s = shape ? *shape : Shape{static_cast<int64_t>(values.size())};
  check_shape(s, dtype_of<T>(), "tensor", loc);
  if (numel(s) != static_cast<int64_t>(values.size()))
    fail_at(loc, "tensor", "{} values do not fill shape {} ({} elements)", values.size(),
            shape_str(s), numel(s));
  return host_tensor<T>(
      s, dtype_of<T>(), [&](int64_t i) { return values[i]; }, loc);
}

template <typename T>
Tensor detail::tensor_rows(std::initializer_list<std::initializer_list<T>> rows, Loc loc) {
  std::vector<T> flat;
  size_t width = rows.size() ? rows.begin()->size() : 0;
  for (auto& r : rows) {
    if (r.size() != width)
      fail_at(loc, "tensor", "ragged rows: {} vs {} elements (expected equal lengths)", r.size(),
              width);
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return tensor(flat, Shape{static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)}, loc);
}

TensorLiteral::TensorLiteral(std::initializer_list<TensorLiteral> items)
    : shape{static_cast<int64_t>(items.size())}, kind(items.size() ? Kind::Bool : Kind::F32) {
  if (items.size() == 0) return; // tensor({}) is f32[0], as in PyTorch
  const Shape& inner = items.begin()->shape;
  shape.insert(shape.end(), inner.begin(), inner.end());
  for (const TensorLiteral& item : items) {
    if (error.empty()) error = item.error;
    if (error.empty() && item.shape != inner)
      error = fmt::format("ragged nesting: an element of shape {} beside one of shape {} "
                          "(expected equal shapes)",
                          shape_str(item.shape), shape_str(inner));
    kind = std::max(kind, item.kind);
    values.insert(values.end(), item.values.begin(), item.values.end());
  }
}

Tensor tensor(const TensorLiteral& data, Loc loc) {
  if (!data.error.empty()) fail_at(loc, "tensor", "{}", data.error);
  auto make = [&]<typename T>(T) {
    std::vector<T> flat;
    flat.reserve(data.values.size());
    for (const TensorLiteral::Value& v : data.values)
      flat.push_back(data.kind == TensorLiteral::Kind::Int ? static_cast<T>(v.integer)
                                                           : static_cast<T>(v.real));
    return tensor(flat, data.shape, loc);
  };
  switch (data.kind) {
  case TensorLiteral::Kind::Bool:
    return make(bool{});
  case TensorLiteral::Kind::Int:
    return make(int64_t{});
  case TensorLiteral::Kind::F32:
    return make(float{});
  default:
    return make(double{});
  }
}

#define KILN_INSTANTIATE(T)                                                                        \
  template Tensor tensor<T>(const std::vector<T>&, std::optional<Shape>, Loc);                     \
  template Tensor detail::tensor_rows<T>(std::initializer_list<std::initializer_list<T>>, Loc);
KILN_FOR_EACH_CPP_TYPE(KILN_INSTANTIATE)
#undef KILN_INSTANTIATE

Tensor from_blob(const void* data, Shape shape, DType dtype, Loc loc) {
  check_shape(shape, dtype, "from_blob", loc);
  if (!data && numel(shape) > 0)
    fail_at(loc, "from_blob", "null data pointer for shape {}", shape_str(shape));
  size_t bytes = static_cast<size_t>(numel(shape)) * dtype_size(dtype);
  auto storage = cpu_alloc(bytes);
  if (bytes) std::memcpy(storage->data, data, bytes);
  return Tensor(
      make_buffer_node(dtype, std::move(shape), std::move(storage), loc, trace::default_device()));
}

Tensor scalar_tensor(double value, DType dtype, Loc loc) { return full({}, value, dtype, loc); }

namespace {
Tensor full_on(Shape shape, double value, DType dtype, Device device, Loc loc) {
  check_shape(shape, dtype, "full", loc);
  bool param = dtype != DType::Bool && value != 0 && value != 1; // zeros/ones stay literals
  return trace::broadcast_to(trace::constant(value, dtype, loc, param, device), shape, "full", loc);
}

// Random tensors are drawn on the host; `normal` picks randn over rand.
Tensor random_on(Shape shape, DType dtype, Generator* gen, bool normal, Device device, Loc loc) {
  const char* op = normal ? "randn" : "rand";
  check_shape(shape, dtype, op, loc);
  if (!is_float(dtype)) fail_at(loc, op, "dtype must be floating point, got {}", dtype_name(dtype));
  Generator& g = gen ? *gen : default_generator();
  // Uniform f32 draws 24 random bits: a 53-bit double rounded to f32 would give exactly 1 about
  // once per 2^25 draws, and (rand * n).to(i64) index n.
  bool f32_uniform = !normal && dtype == DType::F32;
  return host_tensor<double>(
      shape, dtype,
      [&](int64_t) {
        return normal ? g.normal() : f32_uniform ? (g.next() >> 40) * 0x1.0p-24 : g.uniform();
      },
      loc, device);
}
} // namespace

Tensor full(Shape shape, double value, DType dtype, Loc loc) {
  return full_on(std::move(shape), value, dtype, trace::default_device(), loc);
}
Tensor zeros(Shape shape, DType dtype, Loc loc) { return full(std::move(shape), 0, dtype, loc); }
Tensor ones(Shape shape, DType dtype, Loc loc) { return full(std::move(shape), 1, dtype, loc); }

Tensor arange(double start, double end, double step, DType dtype, Loc loc) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail_at(loc, "arange", "start {}, end {} and step {} must be finite", start, end, step);
  if (step == 0) fail_at(loc, "arange", "step must not be 0");
  if ((end - start) * step < 0)
    fail_at(loc, "arange", "range [{}, {}) is inconsistent with the sign of step {}", start, end,
            step);
  // Checked as a double: end - start may round to inf, and casting a count past int64 is UB.
  double count = std::ceil((end - start) / step);
  double most = static_cast<double>(kMaxTensorBytes / static_cast<int64_t>(dtype_size(dtype)));
  if (!(count < most))
    fail_at(loc, "arange",
            "range [{}, {}) with step {} has {} elements (expected fewer than {} {})", start, end,
            step, count, most, dtype_name(dtype));
  int64_t n = static_cast<int64_t>(count);
  return host_tensor<double>(
      {n}, dtype, [&](int64_t i) { return start + static_cast<double>(i) * step; }, loc);
}

Tensor eye(int64_t n, std::optional<int64_t> m, DType dtype, Loc loc) {
  int64_t cols = m.value_or(n);
  check_shape({n, cols}, dtype, "eye", loc);
  return host_tensor<double>(
      {n, cols}, dtype, [&](int64_t i) { return i / cols == i % cols ? 1.0 : 0.0; }, loc);
}

Tensor rand(Shape shape, DType dtype, Generator* gen, Loc loc) {
  return random_on(std::move(shape), dtype, gen, false, trace::default_device(), loc);
}

Tensor randn(Shape shape, DType dtype, Generator* gen, Loc loc) {
  return random_on(std::move(shape), dtype, gen, true, trace::default_device(), loc);
}

namespace {
Tensor with_options(Tensor t, const TensorOptions& options, Loc loc) {
  if (options.requires_grad) t.requires_grad_(true, loc);
  return t;
}
Device device_of(const TensorOptions& options) {
  return options.device.value_or(trace::default_device());
}
} // namespace

Tensor full(Shape shape, double value, const TensorOptions& options, Loc loc) {
  return with_options(full_on(std::move(shape), value, options.dtype, device_of(options), loc),
                      options, loc);
}
Tensor zeros(Shape shape, const TensorOptions& options, Loc loc) {
  return full(std::move(shape), 0, options, loc);
}
Tensor ones(Shape shape, const TensorOptions& options, Loc loc) {
  return full(std::move(shape), 1, options, loc);
}
Tensor rand(Shape shape, const TensorOptions& options, Generator* gen, Loc loc) {
  return with_options(
      random_on(std::move(shape), options.dtype, gen, false, device_of(options), loc), options,
      loc);
}
Tensor randn(Shape shape, const TensorOptions& options, Generator* gen, Loc loc) {
  return with_options(
      random_on(std::move(shape), options.dtype, gen, true, device_of(options), loc), options, loc);
}

Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype, Generator* gen, Loc loc) {
  check_shape(shape, dtype, "randint", loc);
  if (high <= low) fail_at(loc, "randint", "empty range [{}, {}) (expected low < high)", low, high);
  Generator& g = gen ? *gen : default_generator();
  uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low); // may pass INT64_MAX
  return host_tensor<int64_t>(
      shape, dtype,
      [&](int64_t) { return static_cast<int64_t>(static_cast<uint64_t>(low) + g.next() % span); },
      loc);
}

} // namespace kiln
