// GEMM packing of an operand read through index arithmetic a vector load cannot follow — an
// im2col view of a padded input (div/mod of the pixel index, masks at the pad) — evaluated for
// the R lanes of a panel at once: the index and mask become vectors, the loads one masked vector
// load where the lanes' indices are consecutive (most of a convolution's rows) or a masked
// gather where they are not (a row break inside the panel). The arithmetic that depends on the
// panel's position only (the div/mod of the pixel index) does not depend on k: LICM hoists it out
// of the packing loop, so only the k-dependent adds and compares run per packed vector.
#include "codegen/cpu/emitter.h"

#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <optional>

namespace kiln::cpu::detail {
namespace {

// Integer and boolean instructions the lane evaluator handles.
bool lane_op(const KInst& in) {
  if (is_float(in.dtype)) return false;
  switch (in.op) {
  case Op::Const:
  case Op::LoopIndex:
  case Op::ReduceIndex:
  case Op::Param:
  case Op::Add:
  case Op::Sub:
  case Op::Mul:
  case Op::FloorDiv:
  case Op::Mod:
  case Op::Minimum:
  case Op::Maximum:
  case Op::Lt:
  case Op::Le:
  case Op::Gt:
  case Op::Ge:
  case Op::Eq:
  case Op::Ne:
  case Op::LogicalAnd:
  case Op::LogicalOr:
  case Op::LogicalNot:
  case Op::Where:
    return true;
  default:
    return false;
  }
}

// The integer value of instruction i of k at the given loop and reduction indices; nullopt
// for anything but index arithmetic.
std::optional<int64_t> eval_index(const Kernel& k, int i, const std::vector<int64_t>& loops,
                                  int64_t r) {
  const KInst& in = k.insts[i];
  if (in.op == Op::Const) return in.value.i;
  if (in.op == Op::LoopIndex) return loops[in.imm];
  if (in.op == Op::ReduceIndex) return r;
  if (in.a < 0 || in.b < 0) return std::nullopt;
  auto x = eval_index(k, in.a, loops, r), y = eval_index(k, in.b, loops, r);
  if (!x || !y) return std::nullopt;
  auto floordiv = [](int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
  };
  switch (in.op) {
  case Op::Add:
    return *x + *y;
  case Op::Sub:
    return *x - *y;
  case Op::Mul:
    return *x * *y;
  case Op::FloorDiv:
    return *y > 0 ? std::optional<int64_t>(floordiv(*x, *y)) : std::nullopt;
  case Op::Mod:
    return *y > 0 ? std::optional<int64_t>(*x - *y * floordiv(*x, *y)) : std::nullopt;
  case Op::Minimum:
    return std::min(*x, *y);
  case Op::Maximum:
    return std::max(*x, *y);
  default:
    return std::nullopt;
  }
}

// <0, 1, ..., n - 1> as i32 or i64.
Value* lane_iota(llvm::LLVMContext& ctx, unsigned n, bool narrow) {
  std::vector<uint64_t> ids(n);
  for (unsigned l = 0; l < n; ++l) ids[l] = l;
  if (!narrow) return llvm::ConstantDataVector::get(ctx, llvm::ArrayRef<uint64_t>(ids));
  std::vector<uint32_t> ids32(ids.begin(), ids.end());
  return llvm::ConstantDataVector::get(ctx, llvm::ArrayRef<uint32_t>(ids32));
}

// Bounds of every integer instruction's value over the kernel's loops (reduction index < K),
// nullopt where unknown or past 64 bits. Comparisons and logic are bools, [0, 1].
struct Bounds {
  int64_t lo, hi;
};
std::vector<std::optional<Bounds>> index_bounds(const Kernel& k, int64_t K) {
  std::vector<std::optional<Bounds>> b(k.insts.size());
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (is_float(in.dtype)) continue;
    if (in.dtype == DType::Bool) {
      b[i] = Bounds{0, 1};
      continue;
    }
    auto x = in.a >= 0 ? b[in.a] : std::nullopt, y = in.b >= 0 ? b[in.b] : std::nullopt;
    auto four = [&](auto f) -> std::optional<Bounds> {
      int64_t v[4];
      if (f(x->lo, y->lo, v[0]) || f(x->lo, y->hi, v[1]) || f(x->hi, y->lo, v[2]) ||
          f(x->hi, y->hi, v[3]))
        return std::nullopt;
      return Bounds{*std::min_element(v, v + 4), *std::max_element(v, v + 4)};
    };
    auto add = [](int64_t p, int64_t q, int64_t& r) { return __builtin_add_overflow(p, q, &r); };
    auto sub = [](int64_t p, int64_t q, int64_t& r) { return __builtin_sub_overflow(p, q, &r); };
    auto mul = [](int64_t p, int64_t q, int64_t& r) { return __builtin_mul_overflow(p, q, &r); };
    bool both = x && y;
    switch (in.op) {
    case Op::Const:
      b[i] = Bounds{in.value.i, in.value.i};
      break;
    case Op::LoopIndex:
      b[i] = Bounds{0, k.domain[in.imm].value() - 1};
      break;
    case Op::ReduceIndex:
      b[i] = Bounds{0, K - 1};
      break;
    case Op::Add:
      if (both) b[i] = four(add);
      break;
    case Op::Sub:
      if (both) b[i] = four(sub);
      break;
    case Op::Mul:
      if (both) b[i] = four(mul);
      break;
    case Op::FloorDiv:
      if (both && y->lo == y->hi && y->lo > 0) {
        auto fd = [&](int64_t p) { return p / y->lo - (p % y->lo != 0 && p < 0); };
        b[i] = Bounds{fd(x->lo), fd(x->hi)};
      }
      break;
    case Op::Mod:
      if (both && y->lo == y->hi && y->lo > 0) b[i] = Bounds{0, y->lo - 1};
      break;
    case Op::Minimum:
    case Op::Maximum:
      if (both) b[i] = Bounds{std::min(x->lo, y->lo), std::max(x->hi, y->hi)};
      break;
    case Op::Where:
      if (y && in.c >= 0 && b[in.c])
        b[i] = Bounds{std::min(y->lo, b[in.c]->lo), std::max(y->hi, b[in.c]->hi)};
      break;
    default:
      break;
    }
  }
  return b;
}

} // namespace

// Along which direction the load's index runs in consecutive elements more often, sampled over
// the first 64 x 64 of (x, k) with the other loops at 0: an im2col view is consecutive along
// the pixels (its columns), its transpose (a weight gradient's B) along k.
bool Emitter::lanes_along_k(int root, int axis, int64_t extent, int64_t K) const {
  const KInst& r = k_.insts[root];
  int idx = k_.insts[r.op == Op::Where ? r.b : root].a;
  std::vector<int64_t> loops(k_.domain.size(), 0);
  int64_t along_x = 0, along_k = 0;
  for (int64_t x = 0; x + 1 < std::min<int64_t>(extent, 64); ++x)
    for (int64_t kk = 0; kk + 1 < std::min<int64_t>(K, 64); ++kk) {
      loops[axis] = x;
      auto here = eval_index(k_, idx, loops, kk), next_k = eval_index(k_, idx, loops, kk + 1);
      loops[axis] = x + 1;
      auto next_x = eval_index(k_, idx, loops, kk);
      if (!here || !next_k || !next_x) return false;
      along_x += *next_x == *here + 1;
      along_k += *next_k == *here + 1;
    }
  return along_k > along_x;
}

// The operand (root) is a float load, or a pad's where(cond, load, constant) around one, whose
// index and mask are integer arithmetic, and the load is masked or not affine along the panel's
// axis (an affine unmasked load packs as fast through the scalar path, which SLP vectorizes).
bool Emitter::packs_by_lanes(int root, int axis) const {
  // The lanes' index width comes from bounds over concrete extents; a symbolic kernel packs
  // element by element.
  if (k_.symbolic()) return false;
  // Pads of pads: where(c1, where(c2, load, 0), 0).
  std::vector<int> floats;
  int load = root;
  while (k_.insts[load].op == Op::Where) {
    const KInst& r = k_.insts[load];
    if (!is_float(r.dtype) || k_.insts[r.c].op != Op::Const) return false;
    floats.insert(floats.end(), {load, r.c});
    load = r.b;
  }
  const KInst& ld = k_.insts[load];
  if (ld.op != Op::Load || !is_float(ld.dtype)) return false;
  if (ld.b < 0 && root == load && stride(ld.a, Op::LoopIndex, axis)) return false;
  floats.push_back(load);
  for (int i : operand_insts(root))
    if (std::find(floats.begin(), floats.end(), i) == floats.end() && !lane_op(k_.insts[i]))
      return false;
  return true;
}

// The operand for r lanes, as an <r x T> vector: lane l at x = xb + l and reduction index k
// (axis >= 0: lanes along the panel), or at reduction index xb + l and x = loop_idx_[axis']
// already set by the caller (axis < 0: lanes along k). Lanes at x >= x1 (x1 non-null: the last,
// partial panel) are 0.
Value* Emitter::operand_lanes(int root, int axis, Value* xb, Value* k, Value* x1, int64_t r) {
  std::vector<int> insts = operand_insts(root);
  auto n = static_cast<unsigned>(r);
  if (axis >= 0) reduce_idx_.assign(1, k);
  auto is_lane_var = [&](const KInst& in) {
    return axis >= 0 ? in.op == Op::LoopIndex && in.imm == axis : in.op == Op::ReduceIndex;
  };
  std::vector<bool> varies(k_.insts.size(), false);
  for (int i : insts) {
    const KInst& in = k_.insts[i];
    varies[i] = is_lane_var(in);
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && varies[s]) varies[i] = true;
  }
  // Index math in 32-bit lanes where every varying value fits: half the vector instructions
  // (AVX2 has no 64-bit unsigned compare, and a 64-bit one takes two registers per 4 lanes).
  auto bounds = index_bounds(k_, gemm_->K.value());
  bool narrow = true;
  for (int i : insts) {
    const KInst& in = k_.insts[i];
    if (!varies[i] || is_float(in.dtype) || in.dtype == DType::Bool) continue;
    auto& bd = bounds[i];
    if (!bd || bd->lo < INT32_MIN || bd->hi > INT32_MAX) narrow = false;
  }
  auto fit = [&](Value* v) {
    return narrow && v->getType()->isIntegerTy(64) ? b_.CreateTrunc(v, b_.getInt32Ty()) : v;
  };
  Value* vx = b_.CreateAdd(b_.CreateVectorSplat(n, fit(xb)), lane_iota(ctx_, n, narrow));
  auto lanes = [&](int s) { return varies[s] ? vals_[s] : b_.CreateVectorSplat(n, fit(vals_[s])); };
  Value* loaded = nullptr;
  for (int i : insts) {
    const KInst& in = k_.insts[i];
    if (!varies[i]) {
      vals_[i] = emit_inst(static_cast<size_t>(i));
      continue;
    }
    Value *x = in.a >= 0 ? lanes(in.a) : nullptr, *y = in.b >= 0 ? lanes(in.b) : nullptr;
    Value* out = nullptr;
    switch (in.op) {
    case Op::LoopIndex:
    case Op::ReduceIndex:
      out = vx;
      break;
    case Op::LogicalNot:
      out = b_.CreateNot(x);
      break;
    case Op::Where: {
      // A pad's where(mask, load if mask, 0): the masked load has zeros there already.
      const KInst& c = k_.insts[in.c];
      bool redundant = y == loaded && k_.insts[in.b].b == in.a && c.op == Op::Const &&
                       c.value.f == 0 && !std::signbit(c.value.f);
      out = redundant ? y : b_.CreateSelect(x, y, lanes(in.c));
      break;
    }
    case Op::Load: {
      auto st = stride(in.a, axis >= 0 ? Op::LoopIndex : Op::ReduceIndex, std::max(axis, 0));
      loaded = out = load_lanes(in, x, y, vx, x1 ? fit(x1) : nullptr, r, st == 1);
      break;
    }
    default: // integer arithmetic and comparisons, as in scalar code
      out = binary(in, k_.insts[in.a].dtype, x, y);
      break;
    }
    vals_[i] = out;
  }
  Value* v = lanes(root);
  if (x1 && v != loaded) // the pad's constant past the edge: zero it there too
    v = b_.CreateSelect(b_.CreateICmpSLT(vx, b_.CreateVectorSplat(n, fit(x1))), v,
                        llvm::Constant::getNullValue(v->getType()));
  return v;
}

// One vector load of the lanes' elements at idx where mask (null: all) holds and lane x < x1;
// `consecutive`: the index is known to step by 1 from lane to lane (no check, no gather).
Value* Emitter::load_lanes(const KInst& in, Value* idx, Value* mask, Value* vx, Value* x1,
                           int64_t r, bool consecutive) {
  auto n = static_cast<unsigned>(r);
  llvm::Type* ty = reg_type(in.dtype);
  auto* vt = llvm::FixedVectorType::get(ty, n);
  llvm::Align align(dtype_size(in.dtype));
  if (x1) {
    Value* inside = b_.CreateICmpSLT(vx, b_.CreateVectorSplat(n, x1));
    mask = mask ? b_.CreateAnd(mask, inside) : inside;
  }
  auto* it = llvm::cast<llvm::VectorType>(idx->getType())->getElementType();
  Value* first = b_.CreateSExt(b_.CreateExtractElement(idx, uint64_t{0}), b_.getInt64Ty());
  // Not inbounds: lane 0 may sit before the buffer (a masked pad lane).
  // A masked load where some lane is masked (vmaskmov splits into slow uops when its lanes
  // cross a cache line on Zen), a plain one where none is (most of a convolution's vectors).
  auto run_load = [&](Value* base) -> Value* {
    Value* at = b_.CreateGEP(ty, args_[in.imm], {base});
    if (!mask) return b_.CreateAlignedLoad(vt, at, align);
    auto* plain = llvm::BasicBlock::Create(ctx_, "lanes.plain", fn_);
    auto* masked = llvm::BasicBlock::Create(ctx_, "lanes.masked", fn_);
    auto* join = llvm::BasicBlock::Create(ctx_, "lanes.join", fn_);
    b_.CreateCondBr(b_.CreateAndReduce(mask), plain, masked);
    b_.SetInsertPoint(plain);
    Value* v_plain = b_.CreateAlignedLoad(vt, at, align);
    b_.CreateBr(join);
    b_.SetInsertPoint(masked);
    Value* v_masked = b_.CreateMaskedLoad(vt, at, align, mask, llvm::Constant::getNullValue(vt));
    b_.CreateBr(join);
    b_.SetInsertPoint(join);
    auto* phi = b_.CreatePHI(vt, 2);
    phi->addIncoming(v_plain, plain);
    phi->addIncoming(v_masked, masked);
    return phi;
  };
  if (consecutive) return run_load(first);
  // Consecutive where it matters: every active lane's index is lane 0's index plus the lane.
  Value* d = b_.CreateSub(idx, lane_iota(ctx_, n, it->isIntegerTy(32)));
  Value* same =
      b_.CreateICmpEQ(d, b_.CreateVectorSplat(n, b_.CreateExtractElement(d, uint64_t{0})));
  if (mask) same = b_.CreateOr(same, b_.CreateNot(mask));
  Value* all_same = b_.CreateAndReduce(same);
  Value* zero = llvm::Constant::getNullValue(vt);
  auto* run = llvm::BasicBlock::Create(ctx_, "lanes.run", fn_);
  auto* gather = llvm::BasicBlock::Create(ctx_, "lanes.gather", fn_);
  auto* done = llvm::BasicBlock::Create(ctx_, "lanes.done", fn_);
  b_.CreateCondBr(all_same, run, gather);
  b_.SetInsertPoint(run);
  Value* v_run = run_load(first);
  llvm::BasicBlock* run_end = b_.GetInsertBlock();
  b_.CreateBr(done);
  b_.SetInsertPoint(gather);
  Value* ptrs = b_.CreateGEP(ty, args_[in.imm], {idx});
  Value* all = llvm::Constant::getAllOnesValue(llvm::FixedVectorType::get(b_.getInt1Ty(), n));
  Value* v_gather = b_.CreateMaskedGather(vt, ptrs, align, mask ? mask : all, zero);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
  auto* phi = b_.CreatePHI(vt, 2);
  phi->addIncoming(v_run, run_end);
  phi->addIncoming(v_gather, gather);
  return phi;
}

} // namespace kiln::cpu::detail
