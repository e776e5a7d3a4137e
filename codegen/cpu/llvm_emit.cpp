#include "codegen/cpu/llvm_emit.h"

#include "codegen/cpu/llvm_math.h"

#include "ir/error.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <limits>
#include <optional>

namespace kiln::cpu {

llvm::Type* scalar_type(llvm::LLVMContext& ctx, DType t);

namespace {

using llvm::IRBuilder;
using llvm::Value;

class Emitter {
public:
  Emitter(const Kernel& k, llvm::Module& m) : k_(k), m_(m), ctx_(m.getContext()), b_(ctx_) {}
  void emit_body(llvm::Function* f);

private:
  llvm::Type* reg_type(DType t) { return scalar_type(ctx_, t); } // type in registers
  llvm::Type* mem_type(DType t) { return t == DType::Bool ? b_.getInt8Ty() : reg_type(t); }
  Value* constant(DType t, double f, int64_t i) {
    if (is_float(t)) return llvm::ConstantFP::get(reg_type(t), f);
    return llvm::ConstantInt::get(reg_type(t), static_cast<uint64_t>(i), is_signed(t));
  }
  Value* intrinsic(llvm::Intrinsic::ID id, std::initializer_list<Value*> args) {
    return b_.CreateIntrinsic(id, {args.begin()[0]->getType()}, args);
  }
  Value* libm(const char* f32name, const char* f64name, Value* x) {
    bool f32 = x->getType()->isFloatTy();
    auto callee = m_.getOrInsertFunction(f32 ? f32name : f64name, x->getType(), x->getType());
    auto* call = b_.CreateCall(callee, {x});
    call->setDoesNotAccessMemory();
    call->setDoesNotThrow();
    return call;
  }
  // Lets LLVM fuse a multiply and an add into one FMA (one rounding instead of two).
  Value* contract(Value* v) {
    if (auto* i = llvm::dyn_cast<llvm::Instruction>(v)) i->setHasAllowContract(true);
    return v;
  }
  // x if take_x else y, but NaN when either is NaN (llvm.maximum does not select on x86 in LLVM
  // 16).
  Value* nan_propagating(Value* x, Value* y, Value* take_x) {
    return b_.CreateSelect(b_.CreateFCmpUNO(x, y), b_.CreateFAdd(x, y),
                           b_.CreateSelect(take_x, x, y));
  }
  Value* unary(const KInst& in, DType src, Value* x);
  Value* binary(const KInst& in, DType src, Value* x, Value* y);
  Value* cast(DType from, DType to, Value* x);
  Value* reduce_init(const KInst& in);
  Value* emit_inst(size_t i);
  // Opens a counted loop [lo, hi) by step; returns the index phi. close_loop() finishes it.
  llvm::PHINode* open_loop(Value* lo, Value* hi, const char* name, int64_t step = 1);
  Value* accumulate(const KInst& in, Value* acc, Value* x);
  void emit_placed(int loop, int after);
  void emit_stores(int loop);
  std::vector<size_t> reductions(int stage) const;
  std::optional<int64_t> stride(int inst, Op loop, int64_t axis) const;
  bool use_tiled_reduction() const;
  void emit_stage(int stage);
  // Tiled reductions over [lo, hi) of the last loop; `rows` consecutive values of the loop before
  // it from `row` (nullptr: a one-loop domain) share each tile.
  void emit_tiled_reduction(Value* lo, Value* hi, Value* row, int64_t rows);
  void emit_tile(const std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>>& accs, Value* j0, Value* count,
                 Value* row);
  void close_loop(llvm::PHINode* iv);

  const Kernel& k_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  IRBuilder<> b_;
  llvm::Function* fn_ = nullptr;
  std::vector<Value*> args_, vals_, loop_idx_, reduce_idx_;
  std::vector<Placement> place_;
  struct LoopState {
    llvm::BasicBlock *header, *exit;
    Value* hi;
    int64_t step;
  };
  std::vector<std::pair<llvm::PHINode*, LoopState>> loops_;
};

llvm::PHINode* Emitter::open_loop(Value* lo, Value* hi, const char* name, int64_t step) {
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  auto* header = llvm::BasicBlock::Create(ctx_, std::string(name) + ".head", fn_);
  auto* body = llvm::BasicBlock::Create(ctx_, std::string(name) + ".body", fn_);
  auto* exit = llvm::BasicBlock::Create(ctx_, std::string(name) + ".exit", fn_);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  auto* iv = b_.CreatePHI(b_.getInt64Ty(), 2, name);
  iv->addIncoming(lo, pre);
  b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), body, exit);
  b_.SetInsertPoint(body);
  loops_.push_back({iv, {header, exit, hi, step}});
  return iv;
}

void Emitter::close_loop(llvm::PHINode* iv) {
  auto [phi, st] = loops_.back();
  loops_.pop_back();
  Value* next = b_.CreateAdd(iv, b_.getInt64(st.step), "", /*HasNUW=*/true, /*HasNSW=*/true);
  iv->addIncoming(next, b_.GetInsertBlock());
  b_.CreateBr(st.header);
  b_.SetInsertPoint(st.exit);
}

Value* Emitter::cast(DType from, DType to, Value* x) {
  if (from == to) return x;
  llvm::Type* t = reg_type(to);
  if (to == DType::Bool)
    return is_float(from) ? b_.CreateFCmpUNE(x, constant(from, 0, 0))
                          : b_.CreateICmpNE(x, constant(from, 0, 0));
  if (is_float(from) && is_float(to)) return b_.CreateFPCast(x, t);
  if (is_float(from)) {
    // Through i64 so that narrow targets wrap like C++ casts of in-range values instead of poison.
    Value* wide = b_.CreateFPToSI(x, b_.getInt64Ty());
    return to == DType::I64 ? wide : b_.CreateTrunc(wide, t);
  }
  bool src_signed = is_signed(from);
  if (is_float(to)) return src_signed ? b_.CreateSIToFP(x, t) : b_.CreateUIToFP(x, t);
  return b_.CreateIntCast(x, t, src_signed);
}

Value* Emitter::unary(const KInst& in, DType src, Value* x) {
  bool fp = is_float(src), f32 = src == DType::F32;
  DType t = in.dtype;
  auto fp_only = [&](llvm::Intrinsic::ID id) -> Value* { return intrinsic(id, {x}); };
  switch (in.op) {
  case Op::Neg:
    return fp ? b_.CreateFNeg(x) : b_.CreateNeg(x);
  case Op::Abs:
    if (fp) return fp_only(llvm::Intrinsic::fabs);
    if (!is_signed(src)) return x;
    return b_.CreateSelect(b_.CreateICmpSLT(x, constant(src, 0, 0)), b_.CreateNeg(x), x);
  case Op::Exp:
    return f32 ? emit_exp_f32(b_, x) : fp_only(llvm::Intrinsic::exp);
  case Op::Log:
    return f32 ? emit_log_f32(b_, x) : fp_only(llvm::Intrinsic::log);
  case Op::Sqrt:
    return fp_only(llvm::Intrinsic::sqrt);
  case Op::Sin:
    return fp_only(llvm::Intrinsic::sin);
  case Op::Cos:
    return fp_only(llvm::Intrinsic::cos);
  case Op::Floor:
    return fp ? fp_only(llvm::Intrinsic::floor) : x;
  case Op::Ceil:
    return fp ? fp_only(llvm::Intrinsic::ceil) : x;
  case Op::Round:
    return fp ? fp_only(llvm::Intrinsic::roundeven) : x;
  case Op::Log1p:
    return libm("log1pf", "log1p", x);
  case Op::Expm1:
    return libm("expm1f", "expm1", x);
  case Op::Tanh:
    return f32 ? emit_tanh_f32(b_, x) : libm("tanhf", "tanh", x);
  case Op::Erf:
    return libm("erff", "erf", x);
  case Op::Rsqrt:
    return b_.CreateFDiv(constant(t, 1, 1), fp_only(llvm::Intrinsic::sqrt));
  case Op::Reciprocal:
    return b_.CreateFDiv(constant(t, 1, 1), x);
  case Op::Sigmoid: {
    Value* e = f32 ? emit_exp_f32(b_, b_.CreateFNeg(x))
                   : intrinsic(llvm::Intrinsic::exp, {b_.CreateFNeg(x)});
    return b_.CreateFDiv(constant(t, 1, 1), b_.CreateFAdd(constant(t, 1, 1), e));
  }
  case Op::Sign: {
    if (src == DType::Bool) return x;
    Value* zero = constant(src, 0, 0);
    if (fp) {
      Value* s = b_.CreateSelect(b_.CreateFCmpOLT(x, zero), constant(t, -1, -1), x);
      return b_.CreateSelect(b_.CreateFCmpOGT(x, zero), constant(t, 1, 1), s);
    }
    Value* pos =
        b_.CreateICmp(is_signed(src) ? llvm::CmpInst::ICMP_SGT : llvm::CmpInst::ICMP_UGT, x, zero);
    Value* neg = b_.CreateICmpSLT(x, zero);
    return b_.CreateSub(b_.CreateZExt(pos, x->getType()),
                        b_.CreateZExt(is_signed(src) ? neg : b_.getFalse(), x->getType()));
  }
  case Op::LogicalNot:
    return b_.CreateNot(cast(src, DType::Bool, x));
  case Op::Cast:
    return cast(src, t, x);
  default:
    break;
  }
  fail("codegen", "no CPU lowering for unary {} on {}", op_name(in.op), dtype_name(src));
}

Value* Emitter::binary(const KInst& in, DType src, Value* x, Value* y) {
  bool fp = is_float(src), sg = is_signed(src);
  using P = llvm::CmpInst::Predicate;
  auto cmp = [&](P fpred, P spred, P upred) {
    return fp ? b_.CreateFCmp(fpred, x, y) : b_.CreateICmp(sg ? spred : upred, x, y);
  };
  switch (in.op) {
  case Op::Add:
    return fp ? contract(b_.CreateFAdd(x, y)) : b_.CreateAdd(x, y);
  case Op::Sub:
    return fp ? contract(b_.CreateFSub(x, y)) : b_.CreateSub(x, y);
  case Op::Mul:
    return fp ? contract(b_.CreateFMul(x, y)) : b_.CreateMul(x, y);
  case Op::Div:
    if (fp) {
      // arcp: a division by a loop-invariant value (softmax's row sum) becomes one reciprocal
      // and a multiply per element, as PyTorch's kernels do (within an ulp of the quotient).
      auto* d = llvm::cast<llvm::Instruction>(b_.CreateFDiv(x, y));
      d->setHasAllowReciprocal(true);
      return d;
    }
    break;
  case Op::FloorDiv:
  case Op::Mod: {
    // Floor semantics (divisors are positive constants): simplified index math can have a
    // negative numerator, e.g. after a slice with a negative step.
    Value* q = b_.CreateSDiv(x, y);
    Value* r = b_.CreateSRem(x, y);
    Value* neg = b_.CreateICmpSLT(r, constant(DType::I64, 0, 0));
    if (in.op == Op::FloorDiv) return b_.CreateSub(q, b_.CreateZExt(neg, q->getType()));
    return b_.CreateAdd(r, b_.CreateSelect(neg, y, constant(DType::I64, 0, 0)));
  }
  case Op::Pow:
    if (fp) {
      // Small integer exponents, the common case, become multiplies.
      if (auto* c = llvm::dyn_cast<llvm::ConstantFP>(y)) {
        double e = c->getValueAPF().convertToDouble();
        if (e == std::floor(e) && std::fabs(e) <= 4) {
          Value* r = constant(src, 1, 1);
          for (int i = 0; i < std::fabs(e); ++i) r = i ? b_.CreateFMul(r, x) : x;
          return e < 0 ? b_.CreateFDiv(constant(src, 1, 1), r) : r;
        }
      }
      return intrinsic(llvm::Intrinsic::pow, {x, y});
    }
    {
      auto callee =
          m_.getOrInsertFunction("kiln_ipow", b_.getInt64Ty(), b_.getInt64Ty(), b_.getInt64Ty());
      Value* r = b_.CreateCall(callee, {cast(src, DType::I64, x), cast(src, DType::I64, y)});
      return cast(DType::I64, src, r);
    }
  case Op::Maximum:
    if (fp) return nan_propagating(x, y, b_.CreateFCmpOGT(x, y));
    if (src == DType::Bool) return b_.CreateOr(x, y);
    return intrinsic(sg ? llvm::Intrinsic::smax : llvm::Intrinsic::umax, {x, y});
  case Op::Minimum:
    if (fp) return nan_propagating(x, y, b_.CreateFCmpOLT(x, y));
    if (src == DType::Bool) return b_.CreateAnd(x, y);
    return intrinsic(sg ? llvm::Intrinsic::smin : llvm::Intrinsic::umin, {x, y});
  case Op::Fmod: {
    if (fp) return b_.CreateFRem(x, y);
    // Integer fmod by 0 gives 0 and INT_MIN % -1 gives 0 instead of trapping.
    Value* zero = constant(src, 0, 0);
    Value* bad = b_.CreateICmpEQ(y, zero);
    if (sg) bad = b_.CreateOr(bad, b_.CreateICmpEQ(y, constant(src, -1, -1)));
    Value* safe = b_.CreateSelect(bad, constant(src, 1, 1), y);
    return b_.CreateSelect(bad, zero, sg ? b_.CreateSRem(x, safe) : b_.CreateURem(x, safe));
  }
  case Op::Eq:
    return cmp(P::FCMP_OEQ, P::ICMP_EQ, P::ICMP_EQ);
  case Op::Ne:
    return cmp(P::FCMP_UNE, P::ICMP_NE, P::ICMP_NE);
  case Op::Lt:
    return cmp(P::FCMP_OLT, P::ICMP_SLT, P::ICMP_ULT);
  case Op::Le:
    return cmp(P::FCMP_OLE, P::ICMP_SLE, P::ICMP_ULE);
  case Op::Gt:
    return cmp(P::FCMP_OGT, P::ICMP_SGT, P::ICMP_UGT);
  case Op::Ge:
    return cmp(P::FCMP_OGE, P::ICMP_SGE, P::ICMP_UGE);
  case Op::LogicalAnd:
    return b_.CreateAnd(cast(src, DType::Bool, x), cast(src, DType::Bool, y));
  case Op::LogicalOr:
    return b_.CreateOr(cast(src, DType::Bool, x), cast(src, DType::Bool, y));
  default:
    break;
  }
  fail("codegen", "no CPU lowering for binary {} on {}", op_name(in.op), dtype_name(src));
}

Value* Emitter::reduce_init(const KInst& in) {
  DType t = in.dtype;
  if (in.op == Op::ArgMax || in.op == Op::ArgMin) t = k_.insts[in.a].dtype;
  double inf = std::numeric_limits<double>::infinity();
  auto lowest = [&]() -> Value* {
    if (is_float(t)) return constant(t, -inf, 0);
    if (!is_signed(t)) return constant(t, 0, 0);
    return constant(t, 0,
                    t == DType::I32 ? std::numeric_limits<int32_t>::min()
                                    : std::numeric_limits<int64_t>::min());
  };
  auto highest = [&]() -> Value* {
    if (is_float(t)) return constant(t, inf, 0);
    if (t == DType::Bool) return constant(t, 1, 1);
    if (t == DType::U8) return constant(t, 255, 255);
    return constant(t, 0,
                    t == DType::I32 ? std::numeric_limits<int32_t>::max()
                                    : std::numeric_limits<int64_t>::max());
  };
  switch (in.op) {
  case Op::Sum:
    return constant(t, 0, 0);
  case Op::Prod:
    return constant(t, 1, 1);
  case Op::Max:
  case Op::ArgMax:
    return lowest();
  default:
    return highest();
  }
}

Value* Emitter::emit_inst(size_t i) {
  const KInst& in = k_.insts[i];
  auto v = [&](int s) { return vals_[s]; };
  auto src_t = [&](int s) { return k_.insts[s].dtype; };
  switch (op_category(in.op)) {
  case OpCategory::Unary:
    return unary(in, src_t(in.a), v(in.a));
  case OpCategory::Binary:
    return binary(in, src_t(in.a), v(in.a), v(in.b));
  case OpCategory::Ternary:
    return b_.CreateSelect(v(in.a), v(in.b), v(in.c));
  case OpCategory::Leaf:
    return constant(in.dtype, in.value.f, in.value.i);
  default:
    break;
  }
  switch (in.op) {
  case Op::LoopIndex:
    return loop_idx_.at(in.imm);
  case Op::Param:
    return fn_->getArg(k_.args.size() + in.imm);
  case Op::ReduceIndex:
    return reduce_idx_.at(in.imm);
  case Op::FloorDiv:
  case Op::Mod:
    return binary(in, DType::I64, v(in.a), v(in.b));
  case Op::Load: {
    llvm::Type* mt = mem_type(in.dtype);
    Value* p = b_.CreateInBoundsGEP(mt, args_[in.imm], {v(in.a)});
    Value* x = b_.CreateAlignedLoad(mt, p, llvm::Align(dtype_size(in.dtype)));
    return in.dtype == DType::Bool ? b_.CreateICmpNE(x, b_.getInt8(0)) : x;
  }
  default:
    break;
  }
  fail("codegen", "unexpected {} in kernel {}", op_name(in.op), k_.name);
}

Value* Emitter::accumulate(const KInst& in, Value* acc, Value* x) {
  DType t = k_.insts[in.a].dtype;
  bool fp = is_float(t);
  Value* r = nullptr;
  switch (in.op) {
  case Op::Sum:
    r = fp ? contract(b_.CreateFAdd(acc, x)) : t == DType::Bool ? b_.CreateOr(acc, x) : b_.CreateAdd(acc, x);
    break;
  case Op::Prod:
    r = fp ? b_.CreateFMul(acc, x) : t == DType::Bool ? b_.CreateAnd(acc, x) : b_.CreateMul(acc, x);
    break;
  case Op::Max:
    return binary(KInst{Op::Maximum, t}, t, acc, x);
  default:
    return binary(KInst{Op::Minimum, t}, t, acc, x);
  }
  if (fp) llvm::cast<llvm::Instruction>(r)->setHasAllowReassoc(true); // reorder (vectorize) the reduction
  return r;
}

// Emits, in order, the instructions placed inside stage `loop` (-1: outside all stages) that
// need results of exactly stage `after` (any when after < -1), skipping reductions.
void Emitter::emit_placed(int loop, int after) {
  for (size_t i = 0; i < k_.insts.size(); ++i)
    if (place_[i].loop == loop && (after < -1 || place_[i].after == after) &&
        !is_reduce(k_.insts[i].op))
      vals_[i] = emit_inst(i);
}

void Emitter::emit_stores(int loop) {
  for (const KStore& st : k_.stores) {
    if (k_.store_placement(st, place_).loop != loop) continue;
    DType t = k_.args[st.arg].dtype;
    Value* x = vals_[st.value];
    if (t == DType::Bool) x = b_.CreateZExt(x, b_.getInt8Ty());
    Value* p = b_.CreateInBoundsGEP(mem_type(t), args_[st.arg], {vals_[st.index]});
    b_.CreateAlignedStore(x, p, llvm::Align(dtype_size(t)));
  }
}

std::vector<size_t> Emitter::reductions(int stage) const {
  std::vector<size_t> r;
  for (size_t i = 0; i < k_.insts.size(); ++i)
    if (is_reduce(k_.insts[i].op) && k_.insts[i].stage == stage) r.push_back(i);
  return r;
}

// Stride of an i64 index instruction along one loop index (LoopIndex or ReduceIndex axis);
// nullopt when not affine in it.
std::optional<int64_t> Emitter::stride(int i, Op loop, int64_t axis) const {
  const KInst& in = k_.insts[i];
  auto sub = [&](int s) { return stride(s, loop, axis); };
  switch (in.op) {
  case Op::LoopIndex:
  case Op::ReduceIndex:
    return in.op == loop && in.imm == axis ? 1 : 0;
  case Op::Const:
    return 0;
  case Op::Add: {
    auto a = sub(in.a), b = sub(in.b);
    if (!a || !b) return std::nullopt;
    return *a + *b;
  }
  case Op::Mul: {
    auto a = sub(in.a), b = sub(in.b);
    if (!a || !b) return std::nullopt;
    if (*b == 0 && k_.insts[in.b].op == Op::Const) return *a * k_.insts[in.b].value.i;
    if (*a == 0 && k_.insts[in.a].op == Op::Const) return *b * k_.insts[in.a].value.i;
    return (*a == 0 && *b == 0) ? std::optional<int64_t>(0) : std::nullopt;
  }
  default:
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && sub(s) != std::optional<int64_t>(0)) return std::nullopt;
    return 0;
  }
}

// Tiled reductions: when inputs are contiguous along the innermost OUTPUT axis but not along
// the reduce axis (matmul's B, column sums), the reduce loop runs outside a loop over a tile of
// outputs, accumulating into a small stack array, so the innermost loop vectorizes over outputs.
bool Emitter::use_tiled_reduction() const {
  if (k_.stages.size() != 1 || k_.domain.empty() || k_.domain.back() < 16) return false;
  for (size_t r : reductions(0))
    if (k_.insts[r].op == Op::ArgMax || k_.insts[r].op == Op::ArgMin) return false;
  for (const KStore& st : k_.stores)
    if (k_.store_placement(st, place_).loop >= 0) return false;
  int64_t j = static_cast<int64_t>(k_.domain.size()) - 1,
          rr = static_cast<int64_t>(k_.stages[0].size()) - 1;
  bool along_outputs = false;
  for (const KInst& in : k_.insts) {
    if (in.op != Op::Load) continue;
    auto sj = stride(in.a, Op::LoopIndex, j), sr = stride(in.a, Op::ReduceIndex, rr);
    if (sr == std::optional<int64_t>(1) && sj != std::optional<int64_t>(0)) return false;
    if (sj == std::optional<int64_t>(1) && sr != std::optional<int64_t>(1)) along_outputs = true;
  }
  return along_outputs;
}

// One stage: its loop nest, with reduction accumulators as loop phis carried out through the
// exits, and the stores a map stage makes.
void Emitter::emit_stage(int stage) {
  // Each reduction carries a few loop values ("parts"): the accumulator, plus the index for
  // argmax/argmin, or a seen-NaN flag for float max/min (maxnum ignores NaN but vectorizes).
  struct Acc {
    size_t inst;
    std::vector<Value*> parts;
  };
  auto fp_extremum = [&](const KInst& in) {
    return (in.op == Op::Max || in.op == Op::Min) && is_float(k_.insts[in.a].dtype);
  };
  std::vector<Acc> accs;
  for (size_t r : reductions(stage)) {
    const KInst& in = k_.insts[r];
    Acc a{r, {reduce_init(in)}};
    if (in.op == Op::ArgMax || in.op == Op::ArgMin) a.parts.push_back(b_.getInt64(0));
    if (fp_extremum(in)) a.parts.push_back(b_.getFalse());
    accs.push_back(a);
  }
  std::vector<std::vector<llvm::PHINode*>> phis;
  std::vector<llvm::PHINode*> rloops;
  reduce_idx_.assign(k_.stages[stage].size(), nullptr);
  for (size_t d = 0; d < k_.stages[stage].size(); ++d) {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* iv = open_loop(b_.getInt64(0), b_.getInt64(k_.stages[stage][d]), "r");
    rloops.push_back(iv);
    reduce_idx_[d] = iv;
    llvm::BasicBlock* body = b_.GetInsertBlock();
    b_.SetInsertPoint(loops_.back().second.header->getFirstNonPHI()); // phis go in the header
    std::vector<llvm::PHINode*> level;
    for (auto& a : accs)
      for (Value*& v : a.parts) {
        auto* phi = b_.CreatePHI(v->getType(), 2);
        phi->addIncoming(v, pre);
        v = phi;
        level.push_back(phi);
      }
    phis.push_back(level);
    b_.SetInsertPoint(body);
  }
  emit_placed(stage, -2);
  emit_stores(stage);
  std::vector<Value*> next;
  for (auto& a : accs) {
    const KInst& in = k_.insts[a.inst];
    Value* x = vals_[in.a];
    DType t = k_.insts[in.a].dtype;
    if (fp_extremum(in)) {
      // nnan+nsz let LLVM 16 vectorize the reduction; NaN is tracked by the flag beside it.
      auto id = in.op == Op::Max ? llvm::Intrinsic::maxnum : llvm::Intrinsic::minnum;
      auto* m = llvm::cast<llvm::Instruction>(b_.CreateBinaryIntrinsic(id, a.parts[0], x));
      m->setHasNoNaNs(true);
      m->setHasNoSignedZeros(true);
      next.push_back(m);
      next.push_back(b_.CreateOr(a.parts[1], b_.CreateFCmpUNO(x, x)));
    } else if (in.op == Op::ArgMax || in.op == Op::ArgMin) {
      // First index of the max (min); NaN counts as the extreme, like PyTorch.
      Value* better =
          binary(KInst{in.op == Op::ArgMax ? Op::Gt : Op::Lt, DType::Bool}, t, x, a.parts[0]);
      if (is_float(t))
        better = b_.CreateOr(
            better, b_.CreateAnd(b_.CreateFCmpUNO(x, x), b_.CreateFCmpORD(a.parts[0], a.parts[0])));
      next.push_back(b_.CreateSelect(better, x, a.parts[0]));
      next.push_back(b_.CreateSelect(better, vals_[in.b], a.parts[1]));
    } else {
      next.push_back(accumulate(in, a.parts[0], x));
    }
  }
  // Close reduce loops innermost first; after loop d exits, its header phis hold the result.
  for (int d = static_cast<int>(rloops.size()) - 1; d >= 0; --d) {
    llvm::BasicBlock* latch = b_.GetInsertBlock();
    for (size_t j = 0; j < phis[d].size(); ++j) phis[d][j]->addIncoming(next[j], latch);
    close_loop(rloops[d]);
    for (size_t j = 0; j < phis[d].size(); ++j) next[j] = phis[d][j];
  }
  size_t j = 0;
  for (auto& a : accs) {
    const KInst& in = k_.insts[a.inst];
    Value* v = next[j];
    if (fp_extremum(in))
      v = b_.CreateSelect(next[j + 1], llvm::ConstantFP::getNaN(v->getType()), v);
    else if (a.parts.size() == 2)
      v = next[j + 1]; // argmax/argmin: the index
    vals_[a.inst] = v;
    j += a.parts.size();
  }
}

void Emitter::emit_tiled_reduction(Value* lo, Value* hi, Value* row, int64_t rows) {
  // Full tiles run with a constant trip count, so LLVM unrolls the vectorized tile loop and
  // promotes the accumulators to registers; the last partial tile runs with a variable count.
  const int64_t tile = 64;
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>> accs(rows); // per row of the block
  for (auto& row_accs : accs)
    for (size_t r : reductions(0)) {
      auto* ty = llvm::ArrayType::get(reg_type(k_.insts[r].dtype), tile);
      row_accs.push_back({r, entry.CreateAlloca(ty)});
    }
  Value* full_end = b_.CreateAdd(lo, b_.CreateMul(b_.CreateSDiv(b_.CreateSub(hi, lo), b_.getInt64(tile)),
                                                  b_.getInt64(tile)));
  auto* j0 = open_loop(lo, full_end, "j0", tile);
  emit_tile(accs, j0, b_.getInt64(tile), row);
  close_loop(j0);
  auto* rest = open_loop(full_end, hi, "j0", tile); // runs at most once
  emit_tile(accs, rest, b_.CreateSub(hi, rest), row);
  close_loop(rest);
}

void Emitter::emit_tile(const std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>>& accs, Value* j0,
                        Value* count, Value* row) {
  auto slot = [&](llvm::AllocaInst* a, Value* jj) {
    return b_.CreateInBoundsGEP(a->getAllocatedType(), a, {b_.getInt64(0), jj});
  };
  size_t last = k_.domain.size() - 1;
  auto set_row = [&](size_t u) {
    if (row) loop_idx_[last - 1] = b_.CreateAdd(row, b_.getInt64(static_cast<int64_t>(u)));
  };
  auto* jj = open_loop(b_.getInt64(0), count, "jj");
  for (auto& row_accs : accs)
    for (auto& [r, a] : row_accs) b_.CreateStore(reduce_init(k_.insts[r]), slot(a, jj));
  close_loop(jj);

  std::vector<llvm::PHINode*> rloops;
  reduce_idx_.clear();
  for (int64_t extent : k_.stages[0]) {
    rloops.push_back(open_loop(b_.getInt64(0), b_.getInt64(extent), "r"));
    reduce_idx_.push_back(rloops.back());
  }
  jj = open_loop(b_.getInt64(0), count, "jj");
  loop_idx_[last] = b_.CreateAdd(j0, jj);
  for (size_t u = 0; u < accs.size(); ++u) { // loads that ignore the row are shared (GVN)
    set_row(u);
    emit_placed(-1, -1);
    emit_placed(0, -2);
    for (auto& [r, a] : accs[u]) {
      Value* p = slot(a, jj);
      Value* acc = b_.CreateLoad(reg_type(k_.insts[r].dtype), p);
      b_.CreateStore(accumulate(k_.insts[r], acc, vals_[k_.insts[r].a]), p);
    }
  }
  close_loop(jj);
  for (int d = static_cast<int>(rloops.size()) - 1; d >= 0; --d) close_loop(rloops[d]);

  jj = open_loop(b_.getInt64(0), count, "jj");
  loop_idx_[last] = b_.CreateAdd(j0, jj);
  for (size_t u = 0; u < accs.size(); ++u) {
    set_row(u);
    emit_placed(-1, -1);
    for (auto& [r, a] : accs[u]) vals_[r] = b_.CreateLoad(reg_type(k_.insts[r].dtype), slot(a, jj));
    emit_placed(-1, 0);
    emit_stores(-1);
  }
  close_loop(jj);
}

void Emitter::emit_body(llvm::Function* f) {
  fn_ = f;
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", f);
  b_.SetInsertPoint(entry);
  size_t nargs = k_.args.size(), nparams = k_.params.size();
  for (size_t i = 0; i < nargs; ++i) args_.push_back(f->getArg(i));
  Value* begin = f->getArg(nargs + nparams);
  Value* end = f->getArg(nargs + nparams + 1);
  std::vector<int64_t> dims = k_.domain.empty() ? std::vector<int64_t>{1} : k_.domain;
  place_ = k_.placements();
  bool tiled = use_tiled_reduction();
  vals_.assign(k_.insts.size(), nullptr);
  loop_idx_.assign(dims.size(), nullptr);
  std::vector<llvm::PHINode*> outer;
  // The tiled path owns the last loop, and the one before (blocks of rows) when there is one.
  size_t looped = tiled ? (dims.size() >= 2 ? dims.size() - 2 : 0) : dims.size();
  for (size_t d = 0; d < looped; ++d) {
    auto* iv =
        d == 0 ? open_loop(begin, end, "i0") : open_loop(b_.getInt64(0), b_.getInt64(dims[d]), "i");
    outer.push_back(iv);
    loop_idx_[d] = iv;
  }
  if (tiled && dims.size() == 1) {
    emit_tiled_reduction(begin, end, nullptr, 1);
  } else if (tiled) {
    // Rows in blocks of 4 share each load of what does not depend on the row (matmul's B).
    const int64_t block = 4;
    size_t m = dims.size() - 2;
    Value* lo = m == 0 ? begin : b_.getInt64(0);
    Value* hi = m == 0 ? end : b_.getInt64(dims[m]);
    Value* full = b_.CreateAdd(lo, b_.CreateMul(b_.CreateSDiv(b_.CreateSub(hi, lo), b_.getInt64(block)),
                                                b_.getInt64(block)));
    auto* rows = open_loop(lo, full, "m", block);
    emit_tiled_reduction(b_.getInt64(0), b_.getInt64(dims.back()), rows, block);
    close_loop(rows);
    auto* rest = open_loop(full, hi, "m");
    emit_tiled_reduction(b_.getInt64(0), b_.getInt64(dims.back()), rest, 1);
    close_loop(rest);
  } else {
    // Stages run in order; what needs stage s's results is computed right after it.
    emit_placed(-1, -1);
    for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) {
      emit_stage(s);
      emit_placed(-1, s);
    }
    emit_stores(-1);
  }
  for (int d = static_cast<int>(outer.size()) - 1; d >= 0; --d) close_loop(outer[d]);
  b_.CreateRetVoid();
}

} // namespace

llvm::Type* scalar_type(llvm::LLVMContext& ctx, DType t) {
  switch (t) {
  case DType::Bool:
    return llvm::Type::getInt1Ty(ctx);
  case DType::U8:
    return llvm::Type::getInt8Ty(ctx);
  case DType::I32:
    return llvm::Type::getInt32Ty(ctx);
  case DType::I64:
    return llvm::Type::getInt64Ty(ctx);
  case DType::F32:
    return llvm::Type::getFloatTy(ctx);
  case DType::F64:
    break;
  }
  return llvm::Type::getDoubleTy(ctx);
}

std::unique_ptr<llvm::Module> emit_llvm(const Kernel& k, llvm::LLVMContext& ctx,
                                        const std::string& cpu, const std::string& features,
                                        bool has_avx512) {
  auto m = std::make_unique<llvm::Module>(k.name, ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  std::vector<llvm::Type*> params(k.args.size(), ptr);
  for (DType t : k.params) params.push_back(scalar_type(ctx, t));
  params.push_back(i64);
  params.push_back(i64);
  auto* body_ty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false);
  auto* body =
      llvm::Function::Create(body_ty, llvm::Function::InternalLinkage, k.name + ".body", *m);
  auto* entry_ty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, i64}, false);
  auto* entry = llvm::Function::Create(entry_ty, llvm::Function::ExternalLinkage, k.name, *m);
  for (llvm::Function* f : {body, entry}) {
    f->addFnAttr("target-cpu", cpu);
    f->addFnAttr("target-features", features);
    if (has_avx512) f->addFnAttr("prefer-vector-width", "512");
    f->addFnAttr(llvm::Attribute::NoUnwind);
  }
  body->addFnAttr(llvm::Attribute::AlwaysInline);
  // Distinct buffers never alias: noalias arguments let LLVM vectorize without runtime checks.
  for (size_t i = 0; i < k.args.size(); ++i) body->addParamAttr(i, llvm::Attribute::NoAlias);
  Emitter(k, *m).emit_body(body);

  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  // args[] holds the buffer pointers, then a pointer to each parameter's value.
  std::vector<llvm::Value*> call_args;
  for (size_t i = 0; i < k.args.size() + k.params.size(); ++i) {
    llvm::Value* p = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i));
    if (i >= k.args.size()) {
      DType t = k.params[i - k.args.size()];
      llvm::Type* mem = t == DType::Bool ? b.getInt8Ty() : scalar_type(ctx, t);
      p = b.CreateLoad(mem, p);
      if (t == DType::Bool) p = b.CreateICmpNE(p, b.getInt8(0));
    }
    call_args.push_back(p);
  }
  call_args.push_back(entry->getArg(1));
  call_args.push_back(entry->getArg(2));
  b.CreateCall(body, call_args);
  b.CreateRetVoid();

  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) fail("codegen", "invalid LLVM IR for {}: {}", k.name, os.str());
  return m;
}

} // namespace kiln::cpu
