#include "codegen/cuda/cuda_analysis.h"

#include <algorithm>
#include <limits>

namespace kiln::cuda {
namespace {

// Bit d set: the value depends on LoopIndex axis d.
std::vector<uint64_t> loop_deps(const Kernel& k) {
  std::vector<uint64_t> deps(k.insts.size(), 0);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::LoopIndex) deps[i] = uint64_t{1} << std::min<int64_t>(in.imm, 63);
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) deps[i] |= deps[s];
  }
  return deps;
}

struct Interval {
  int64_t lo, hi;
};

bool mul_ok(int64_t a, int64_t b, int64_t& r) { return !__builtin_mul_overflow(a, b, &r); }

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

} // namespace

std::optional<MatmulSplit> find_matmul(const Kernel& k, const std::vector<Placement>& place) {
  size_t nd = k.domain.size();
  if (k.stages.size() != 1 || k.stages[0].size() != 1 || nd < 2 || nd > 63) return std::nullopt;
  if (k.domain[nd - 1].value() < 16 || k.domain[nd - 2].value() < 16 ||
      (k.domain[nd - 2].value() + 63) / 64 > 65535)
    return std::nullopt;
  int sum = -1;
  for (size_t i = 0; i < k.insts.size(); ++i)
    if (is_reduce(k.insts[i].op)) {
      if (sum >= 0) return std::nullopt;
      sum = static_cast<int>(i);
    }
  if (sum < 0 || k.insts[sum].op != Op::Sum || !is_float(k.insts[sum].dtype)) return std::nullopt;
  for (const KStore& st : k.stores)
    if (k.store_placement(st, place).loop >= 0) return std::nullopt;
  int mul = k.insts[sum].a;
  if (k.insts[mul].op != Op::Mul) return std::nullopt;
  auto deps = loop_deps(k);
  uint64_t m_bit = uint64_t{1} << (nd - 2), n_bit = uint64_t{1} << (nd - 1);
  int x = k.insts[mul].a, y = k.insts[mul].b;
  if (!(deps[x] & n_bit) && !(deps[y] & m_bit)) return MatmulSplit{sum, mul, x, y};
  if (!(deps[y] & n_bit) && !(deps[x] & m_bit)) return MatmulSplit{sum, mul, y, x};
  return std::nullopt;
}

Strategy choose_strategy(const Kernel& k, const std::vector<Placement>& place) {
  if (k.stages.empty()) return Strategy::Pointwise;
  if (match_attention_kernel(k)) return Strategy::Attention;
  if (find_matmul(k, place)) return Strategy::TiledMatmul;
  int64_t longest = 0;
  for (auto& s : k.stages) longest = std::max(longest, numel(s));
  // A load contiguous along the outputs but not along its stage's row: neighbouring threads
  // of the Serial strategy read neighbouring elements (a column sum).
  bool across_outputs = false;
  int64_t last = static_cast<int64_t>(k.domain.size()) - 1;
  for (size_t i = 0; i < k.insts.size() && last >= 0; ++i) {
    const KInst& in = k.insts[i];
    if (in.op != Op::Load || place[i].loop < 0) continue;
    int64_t raxis = static_cast<int64_t>(k.stages[place[i].loop].size()) - 1;
    auto sj = index_stride(k, in.a, Op::LoopIndex, last);
    auto sr = index_stride(k, in.a, Op::ReduceIndex, raxis);
    if (sj == std::optional<int64_t>(1) && sr != std::optional<int64_t>(1)) across_outputs = true;
  }
  if (k.domain_size() >= 64 && (longest < 32 || across_outputs)) return Strategy::Serial;
  size_t widest = 1; // the widest type a stage loads
  for (size_t i = 0; i < k.insts.size(); ++i)
    if (k.insts[i].op == Op::Load && place[i].loop >= 0)
      widest = std::max(widest, dtype_size(k.insts[i].dtype));
  return longest <= kWarpRowMax && widest <= 4 ? Strategy::WarpRow : Strategy::Row;
}

std::vector<bool> narrow_indices(const Kernel& k) {
  const int64_t lo32 = std::numeric_limits<int32_t>::min(),
                hi32 = std::numeric_limits<int32_t>::max();
  std::vector<bool> narrow(k.insts.size(), false);
  std::vector<Interval> iv(k.insts.size(), {0, 0});
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.dtype != DType::I64) continue;
    auto ok = [&](int s) { return s >= 0 && narrow[s]; };
    Interval r{0, 0};
    bool good = true;
    switch (in.op) {
    case Op::LoopIndex:
      r = {0, k.domain[in.imm].value() - 1};
      break;
    case Op::ReduceIndex:
      r = {0, k.stages[in.stage][in.imm].value() - 1};
      break;
    case Op::Const:
      r = {in.value.i, in.value.i};
      break;
    case Op::Add:
    case Op::Sub:
      good = ok(in.a) && ok(in.b);
      if (good)
        r = in.op == Op::Add ? Interval{iv[in.a].lo + iv[in.b].lo, iv[in.a].hi + iv[in.b].hi}
                             : Interval{iv[in.a].lo - iv[in.b].hi, iv[in.a].hi - iv[in.b].lo};
      break;
    case Op::Neg:
      good = ok(in.a);
      r = {-iv[in.a].hi, -iv[in.a].lo};
      break;
    case Op::Mul: {
      good = ok(in.a) && ok(in.b);
      if (!good) break;
      int64_t c[4];
      Interval a = iv[in.a], b = iv[in.b];
      good = mul_ok(a.lo, b.lo, c[0]) && mul_ok(a.lo, b.hi, c[1]) && mul_ok(a.hi, b.lo, c[2]) &&
             mul_ok(a.hi, b.hi, c[3]);
      if (good) r = {*std::min_element(c, c + 4), *std::max_element(c, c + 4)};
      break;
    }
    case Op::FloorDiv:
    case Op::Mod: {
      // Divisors are positive constants in lowered kernels; anything else stays 64-bit.
      good = ok(in.a) && in.b >= 0 && k.insts[in.b].op == Op::Const && k.insts[in.b].value.i > 0;
      if (!good) break;
      int64_t d = k.insts[in.b].value.i;
      r = in.op == Op::Mod ? Interval{0, d - 1}
                           : Interval{floor_div(iv[in.a].lo, d), floor_div(iv[in.a].hi, d)};
      break;
    }
    case Op::Maximum:
    case Op::Minimum:
      good = ok(in.a) && ok(in.b);
      if (good)
        r = in.op == Op::Maximum
                ? Interval{std::max(iv[in.a].lo, iv[in.b].lo), std::max(iv[in.a].hi, iv[in.b].hi)}
                : Interval{std::min(iv[in.a].lo, iv[in.b].lo), std::min(iv[in.a].hi, iv[in.b].hi)};
      break;
    case Op::Where:
      good = ok(in.b) && ok(in.c);
      if (good) r = {std::min(iv[in.b].lo, iv[in.c].lo), std::max(iv[in.b].hi, iv[in.c].hi)};
      break;
    default:
      good = false;
    }
    if (good && r.lo >= lo32 && r.hi <= hi32) {
      narrow[i] = true;
      iv[i] = r;
    }
  }
  return narrow;
}

std::vector<bool> summed_products(const Kernel& k) {
  std::vector<int> readers(k.insts.size(), 0);
  for (const KInst& in : k.insts)
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) ++readers[s];
  for (const KStore& st : k.stores) ++readers[st.value];
  std::vector<bool> out(k.insts.size(), false);
  for (const KInst& in : k.insts)
    if (in.op == Op::Sum && is_float(in.dtype) && k.insts[in.a].op == Op::Mul && readers[in.a] == 1)
      out[in.a] = true;
  return out;
}

} // namespace kiln::cuda
