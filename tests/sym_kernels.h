// Test support for symbolic kernels (passes/generalise.h): kernels lowered from one graph at
// several sizes, generalised, and run by a backend against the interpreter's run of the
// concrete instantiation.
#pragma once
#include "test_util.h"

#include "codegen/interp/interp_backend.h"
#include "ir/kernel.h"

#include <cstring>

#include <functional>
#include <optional>

namespace kt {

// A traced graph's outputs at size s (inputs realized, outputs lazy).
using Build = std::function<std::vector<Tensor>(int64_t)>;

// randn of the shape, realized (an input of the graphs Build makes).
Tensor realized_randn(Shape shape);

// A training step of relu(x @ w1) @ w2 with cross-entropy over a batch of b rows of `in`
// features: the loss and both weight gradients (whose products reduce over the batch).
Build mlp_step(int64_t in, int64_t hidden, int64_t classes);

std::vector<kiln::Kernel> lowered(const Build& build, int64_t s);

// Per kernel, the symbolic kernel fit from the lowerings at `sizes`; nullopt when one refuses.
std::optional<std::vector<kiln::Kernel>> generalise_all(const Build& build,
                                                        const std::vector<int64_t>& sizes);

// A zeroed host buffer, 64-byte aligned as kernels may assume (codegen/host/allocator.h).
struct Buf {
  std::shared_ptr<kiln::Storage> storage;
  size_t bytes;
  explicit Buf(size_t n) : storage(kiln::interp_backend().allocate(n)), bytes(n) {
    std::memset(data(), 0, n);
  }
  uint8_t* data() const { return static_cast<uint8_t*>(storage->data); }
  bool operator==(const Buf& o) const {
    return bytes == o.bytes && std::memcmp(data(), o.data(), bytes) == 0;
  }
};

struct Launch {
  std::vector<Buf> bufs;
  std::vector<int64_t> params; // each parameter's value in its dtype's bytes
  std::vector<void*> args;
};

// Buffers and parameters of one launch of k with these element counts per buffer, inputs
// filled from a generator seeded with `seed` (floats normal, ints in [0, 8)), outputs with NaN
// bytes; i64 parameters `size`, f32 ones 0.75.
Launch make_launch(const kiln::Kernel& k, const std::vector<int64_t>& numels, int64_t size,
                   uint32_t seed);

// Runs each symbolic kernel at size s on `be`, and its instantiation at s (the concrete lowering
// where that matches) in the interpreter on the same seeded inputs (make_launch): f32 outputs must
// agree within rtol and atol (rtol 0: bit for bit), others exactly. Each symbolic kernel compiles
// once, for all the sizes.
void check_backend_at(const std::vector<kiln::Kernel>& sym, const std::vector<int64_t>& sizes,
                      const kiln::Backend& be, double rtol, double atol = 1e-6);

// Prints the median times of interleaved launches (on all threads) of `sym`, the symbolic
// kernel of `build`, and of build's concrete lowering at each size, and both compile times.
void time_against_concrete(const std::string& name, const Build& build, const kiln::Kernel& sym,
                           const std::vector<int64_t>& sizes);

} // namespace kt
