// Tensor creation: from host data, constants, ranges and seeded random generators.
#pragma once
#include "kiln/tensor.h"

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace kiln {

// splitmix64-seeded xoshiro256** generator; the global one is seeded by manual_seed().
class Generator {
public:
  explicit Generator(uint64_t seed = 0) { seed_(seed); }
  void seed_(uint64_t seed);
  uint64_t next();
  double uniform(); // [0, 1)
  double normal();

private:
  uint64_t s_[4];
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// Functions without TensorOptions put their tensor on the default device (KILN_DEVICE, else the
// CPU); data made on the host goes to a GPU when a program there first reads it.

// A number or a nested braced list of numbers, as kiln::tensor({{1, 2}, {3, 4}}) takes it: one
// recursive type (LibTorch's TensorDataContainer), so {{0}} is a [1, 1] tensor. The dtype
// follows the literals, like LibTorch: integers of any C++ type i64, float f32, double f64,
// bool bool; mixed kinds promote (bool < integer < float < double). Ragged lists and unsigned
// numbers above the i64 range are a kiln::Error when the tensor is made.
struct TensorLiteral {
  enum class Kind { Bool, Int, F32, F64 };
  struct Value {
    double real;
    int64_t integer; // exactly, for the integer kinds (a double holds 53 bits)
  };
  template <typename T>
  requires std::is_arithmetic_v<T> TensorLiteral(T v)
      : kind(std::is_same_v<T, bool>    ? Kind::Bool
             : std::is_integral_v<T>    ? Kind::Int
             : std::is_same_v<T, float> ? Kind::F32
                                        : Kind::F64),
        values{{static_cast<double>(v), std::is_integral_v<T> ? static_cast<int64_t>(v) : 0}} {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t))
      if (v > static_cast<T>(INT64_MAX))
        error = "the number " + std::to_string(v) + " does not fit i64";
  }
  TensorLiteral(std::initializer_list<TensorLiteral> items);

  Shape shape; // {} for a number
  Kind kind;
  std::vector<Value> values; // row-major
  std::string error;         // the first problem found (ragged rows), raised by tensor()
};

Tensor tensor(const TensorLiteral& data, Loc loc = Loc::current());

// Copies host data as dtype_of<T>.
template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<Shape> shape = {},
              Loc loc = Loc::current());
namespace detail {
// Equal-length rows as a [rows, width] tensor of T.
template <typename T>
Tensor tensor_rows(std::initializer_list<std::initializer_list<T>> rows, Loc loc);
// The element types a braced list keeps (tensor({1.5f}) is f32). Not int: int literals are i64,
// as in LibTorch (through TensorLiteral), so tensor<int32_t>({...}) must name its type.
template <typename T>
concept DeducedElement =
    !std::is_same_v<T, int> &&
    (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t> || std::is_same_v<T, int64_t> ||
     std::is_same_v<T, float> || std::is_same_v<T, double>);
} // namespace detail
template <typename T>
requires detail::DeducedElement<T> Tensor tensor(std::initializer_list<T> values,
                                                 Loc loc = Loc::current()) {
  return tensor(std::vector<T>(values), std::nullopt, loc);
}
template <typename T>
requires detail::DeducedElement<T>
    Tensor tensor(std::initializer_list<std::initializer_list<T>> rows, Loc loc = Loc::current()) {
  return detail::tensor_rows<T>(rows, loc);
}
// tensor<int32_t>({1, 2}) and tensor<int32_t>({{1, 2}, {3, 4}}): i32 when asked by name. The
// 1-D form takes its ints through a conversion, so {{5}, {6}} is the 2-D form's.
namespace detail {
struct IntElement {
  IntElement(int v) : value(v) {}
  int value;
};
} // namespace detail
template <typename T>
requires std::is_same_v<T, int> Tensor tensor(std::initializer_list<detail::IntElement> values,
                                              Loc loc = Loc::current()) {
  std::vector<int> flat;
  for (detail::IntElement e : values) flat.push_back(e.value);
  return tensor(flat, std::nullopt, loc);
}
template <typename T>
requires std::is_same_v<T, int>
    Tensor tensor(std::initializer_list<std::initializer_list<std::type_identity_t<T>>> rows,
                  Loc loc = Loc::current()) {
  return detail::tensor_rows<T>(rows, loc);
}
Tensor from_blob(const void* data, Shape shape, DType dtype, Loc loc = Loc::current());
Tensor scalar_tensor(double value, DType dtype = DType::F32, Loc loc = Loc::current());

// Options for the creation functions, like LibTorch's TensorOptions:
// kiln::zeros({2, 3}, {.dtype = kiln::DType::F64, .requires_grad = true}),
// kiln::randn({2, 3}, {.device = kiln::Device::cuda(0)}).
struct TensorOptions {
  DType dtype = DType::F32;
  std::optional<Device> device = {}; // where it lives; unset: KILN_DEVICE (default cpu)
  bool requires_grad = false;
};

Tensor full(Shape shape, double value, DType dtype = DType::F32, Loc loc = Loc::current());
Tensor zeros(Shape shape, DType dtype = DType::F32, Loc loc = Loc::current());
Tensor ones(Shape shape, DType dtype = DType::F32, Loc loc = Loc::current());
Tensor arange(double start, double end, double step = 1, DType dtype = DType::F32,
              Loc loc = Loc::current());
Tensor eye(int64_t n, std::optional<int64_t> m = {}, DType dtype = DType::F32,
           Loc loc = Loc::current());

Tensor rand(Shape shape, DType dtype = DType::F32, Generator* gen = nullptr,
            Loc loc = Loc::current());
Tensor randn(Shape shape, DType dtype = DType::F32, Generator* gen = nullptr,
             Loc loc = Loc::current());
Tensor full(Shape shape, double value, const TensorOptions& options, Loc loc = Loc::current());
Tensor zeros(Shape shape, const TensorOptions& options, Loc loc = Loc::current());
Tensor ones(Shape shape, const TensorOptions& options, Loc loc = Loc::current());
Tensor rand(Shape shape, const TensorOptions& options, Generator* gen = nullptr,
            Loc loc = Loc::current());
Tensor randn(Shape shape, const TensorOptions& options, Generator* gen = nullptr,
             Loc loc = Loc::current());

Tensor randint(int64_t low, int64_t high, Shape shape, DType dtype = DType::I64,
               Generator* gen = nullptr, Loc loc = Loc::current());
// Draws num_samples class indices (i64, [num_samples] or [rows, num_samples]) from each row of
// probs ([C] or [rows, C] of non-negative weights, not necessarily normalized), like
// torch.multinomial; without replacement every index is drawn at most once. Realizes probs and
// draws on the host.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false,
                   Generator* gen = nullptr, Loc loc = Loc::current());

} // namespace kiln
