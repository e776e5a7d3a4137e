// Tensor creation: from host data, constants, ranges and seeded random generators.
#pragma once
#include "kiln/tensor.h"

#include <cstdint>

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

// Copies host data. The dtype follows T unless given.
template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<Shape> shape = {},
              Loc loc = Loc::current());
template <typename T> Tensor tensor(std::initializer_list<T> values, Loc loc = Loc::current()) {
  return tensor(std::vector<T>(values), std::nullopt, loc);
}
template <typename T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows, Loc loc = Loc::current());
// Integer literals give i64, like LibTorch's torch::tensor({1, 2, 3}) (tensor<int>({...}) gives
// i32).
Tensor tensor(std::initializer_list<int> values, Loc loc = Loc::current());
Tensor tensor(std::initializer_list<std::initializer_list<int>> rows, Loc loc = Loc::current());
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
