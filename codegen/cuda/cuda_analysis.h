// Facts about a kernel that the CUDA emitter decides by: its strategy, the matmul split of a
// sum of products, and which i64 index values provably fit in 32 bits.
// (The CPU backend has its own stride analysis in codegen/cpu; both belong in one kernel-IR
// analysis once the backend seam lands.)
#pragma once
#include "codegen/cuda/cuda_emit.h"
#include "passes/attention_match.h"

#include <optional>

namespace kiln::cuda {

// A one-stage sum of lhs * rhs where lhs does not depend on the last domain axis (n) and rhs
// not on the one before it (m): each operand can be staged in shared-memory tiles.
struct MatmulSplit {
  int sum, mul, lhs, rhs;
};
std::optional<MatmulSplit> find_matmul(const Kernel& k, const std::vector<Placement>& place);

Strategy choose_strategy(const Kernel& k, const std::vector<Placement>& place);

// Per instruction: an i64 value computed only from loop indices and constants whose every
// possible value fits in int32 (interval arithmetic over the loop extents): emitted as `int`,
// which makes index math (and floor division by constants) cheap on the GPU.
std::vector<bool> narrow_indices(const Kernel& k);

// Per instruction: a float product read only by a Sum (accumulated with one fused multiply-add,
// as the CPU backend contracts it).
std::vector<bool> summed_products(const Kernel& k);

} // namespace kiln::cuda
