// The GEMM pattern in kernel IR (see gemm_match.h).
#include "passes/gemm_match.h"

#include <cstdint>
#include <vector>

namespace kiln {
namespace {

// Per instruction, a bit per loop axis its value depends on (domain sizes are small).
std::vector<uint64_t> loop_axes_used(const Kernel& k) {
  std::vector<uint64_t> used(k.insts.size(), 0);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::LoopIndex) used[i] = uint64_t{1} << in.imm;
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) used[i] |= used[s];
  }
  return used;
}

} // namespace

std::optional<GemmMatch> match_gemm(const Kernel& k) {
  if (k.stages.size() != 1 || k.stages[0].size() != 1 || k.domain.size() < 2 ||
      k.domain.size() > 63)
    return std::nullopt;
  GemmMatch g;
  for (size_t i = 0; i < k.insts.size(); ++i) {
    if (!is_reduce(k.insts[i].op)) continue;
    if (g.sum >= 0 || k.insts[i].op != Op::Sum) return std::nullopt;
    g.sum = static_cast<int>(i);
  }
  if (g.sum < 0) return std::nullopt;
  const KInst& sum = k.insts[g.sum];
  if (sum.dtype != DType::F32 && sum.dtype != DType::F64) return std::nullopt;
  g.mul = sum.a;
  const KInst& mul = k.insts[g.mul];
  if (mul.op != Op::Mul || mul.dtype != sum.dtype) return std::nullopt;
  int readers = 0;
  for (const KInst& in : k.insts)
    for (int s : {in.a, in.b, in.c}) readers += s == g.mul;
  for (const KStore& st : k.stores) readers += st.value == g.mul || st.index == g.mul;
  if (readers != 1) return std::nullopt;
  auto place = k.placements();
  for (const KStore& st : k.stores)
    if (k.store_placement(st, place).loop >= 0) return std::nullopt;

  g.n_axis = static_cast<int>(k.domain.size()) - 1;
  g.m_axis = g.n_axis - 1;
  auto used = loop_axes_used(k);
  uint64_t m_bit = uint64_t{1} << g.m_axis, n_bit = uint64_t{1} << g.n_axis;
  auto is_a = [&](int i) { return !(used[i] & n_bit); };
  auto is_b = [&](int i) { return !(used[i] & m_bit); };
  if (is_a(mul.a) && is_b(mul.b)) {
    g.a = mul.a;
    g.b = mul.b;
  } else if (is_a(mul.b) && is_b(mul.a)) {
    g.a = mul.b;
    g.b = mul.a;
  } else {
    return std::nullopt;
  }
  if (k.domain[g.n_axis].symbolic()) return std::nullopt; // see gemm_match.h
  g.M = k.domain[g.m_axis];
  g.N = k.domain[g.n_axis].value();
  g.K = k.stages[0][0];
  bool few_rows = !g.M.symbolic() && g.M.value() < kGemmMinRows;
  bool empty_sum = !g.K.symbolic() && g.K.value() < 1;
  if (few_rows || g.N < kGemmMinCols || empty_sum) return std::nullopt;
  g.split_columns = k.domain.size() == 2 && !g.M.symbolic() && g.M.value() < g.N;
  return g;
}

} // namespace kiln
