#include "codegen/cpu/llvm_emit.h"

#include "codegen/cpu/emitter.h"

#include "codegen/cpu/llvm_math.h"

#include "ir/error.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>

namespace kiln::cpu {
namespace detail {

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

llvm::BranchInst* Emitter::close_loop(llvm::PHINode* iv, bool keep_rolled) {
  auto [phi, st] = loops_.back();
  loops_.pop_back();
  Value* next = b_.CreateAdd(iv, b_.getInt64(st.step), "", /*HasNUW=*/true, /*HasNSW=*/true);
  iv->addIncoming(next, b_.GetInsertBlock());
  auto* br = b_.CreateBr(st.header);
  if (keep_rolled) keep_loop_rolled(br);
  b_.SetInsertPoint(st.exit);
  return br;
}

namespace {

llvm::Metadata* interleave_hint(llvm::LLVMContext& ctx, int64_t count) {
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  return llvm::MDNode::get(ctx,
                           {llvm::MDString::get(ctx, "llvm.loop.interleave.count"),
                            llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(i32, count))});
}

void set_loop_hints(llvm::BranchInst* latch, std::vector<llvm::Metadata*> hints) {
  hints.insert(hints.begin(), nullptr);
  auto* loop = llvm::MDNode::getDistinct(latch->getContext(), hints);
  loop->replaceOperandWith(0, loop);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

} // namespace

void interleave_loop(llvm::BranchInst* latch, int64_t count) {
  set_loop_hints(latch, {interleave_hint(latch->getContext(), count)});
}

void keep_loop_rolled(llvm::BranchInst* latch, int64_t interleave) {
  llvm::LLVMContext& ctx = latch->getContext();
  std::vector<llvm::Metadata*> hints = {
      llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")})};
  if (interleave > 0) hints.push_back(interleave_hint(ctx, interleave));
  set_loop_hints(latch, hints);
}

void keep_loop_scalar(llvm::BranchInst* latch) {
  llvm::LLVMContext& ctx = latch->getContext();
  auto* no = llvm::ConstantAsMetadata::get(llvm::ConstantInt::getFalse(ctx));
  set_loop_hints(
      latch,
      {llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")}),
       llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"), no})});
}

Value* Emitter::extent(const SymInt& v) {
  if (!v.symbolic()) return b_.getInt64(v.c0);
  Value* s = fn_->getArg(k_.args.size() + v.param);
  // c0 + s * (c1 + s * c2); a size where this overflows is not lowered to this kernel.
  Value* inner = b_.CreateAdd(b_.getInt64(v.c1), b_.CreateMul(s, b_.getInt64(v.c2)));
  return b_.CreateAdd(b_.getInt64(v.c0), b_.CreateMul(s, inner));
}

Value* Emitter::sym(const KInst& in) {
  Value* p = extent(in.sym);
  if (in.value.f == 0) return cast(DType::I64, in.dtype, p);
  // As the interpreter: the quotient in double, then rounded to the dtype.
  Value* q = b_.CreateFDiv(llvm::ConstantFP::get(b_.getDoubleTy(), in.value.f),
                           cast(DType::I64, DType::F64, p));
  return cast(DType::F64, in.dtype, q);
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
    // e / (1 + e) with e = e^-|x| below 0, 1 / (1 + e) above: e^-x would overflow while the
    // result is still a denormal (sigmoid(-100) = 3.7e-44).
    Value* nax = b_.CreateFNeg(fp_only(llvm::Intrinsic::fabs));
    Value* e = f32 ? emit_exp_f32(b_, nax) : intrinsic(llvm::Intrinsic::exp, {nax});
    Value* num = b_.CreateSelect(b_.CreateFCmpOLT(x, constant(t, 0, 0)), e, constant(t, 1, 1));
    return b_.CreateFDiv(num, b_.CreateFAdd(constant(t, 1, 1), e));
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
  case Op::Copy:
    return x;
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
  // Elementwise float ops carry no fast-math flags: a fused kernel must round exactly as the
  // unfused kernels do, on every value including 0, -0, inf, NaN and subnormals (an FMA, or
  // x * (1 / y), or an rsqrt estimate for 1 / sqrt(y), would not).
  case Op::Add:
    return fp ? b_.CreateFAdd(x, y) : b_.CreateAdd(x, y);
  case Op::Sub:
    return fp ? b_.CreateFSub(x, y) : b_.CreateSub(x, y);
  case Op::Mul:
    return fp ? b_.CreateFMul(x, y) : b_.CreateMul(x, y);
  case Op::Div:
    if (fp) return b_.CreateFDiv(x, y);
    break;
  case Op::FloorDiv:
  case Op::Mod: {
    // Floor semantics (divisors are positive constants): simplified index math can have a
    // negative numerator, e.g. after a slice with a negative step.
    Value* q = b_.CreateSDiv(x, y);
    Value* r = b_.CreateSRem(x, y);
    // (Zero of x's own type: the packer's lanes are <n x i32> or <n x i64> vectors.)
    Value* zero = llvm::Constant::getNullValue(x->getType());
    Value* neg = b_.CreateICmpSLT(r, zero);
    if (in.op == Op::FloorDiv) return b_.CreateSub(q, b_.CreateZExt(neg, q->getType()));
    return b_.CreateAdd(r, b_.CreateSelect(neg, y, zero));
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

Value* Emitter::emit_inst(size_t i) {
  const KInst& in = k_.insts[i];
  auto v = [&](int s) { return vals_[s]; };
  auto src_t = [&](int s) { return k_.insts[s].dtype; };
  switch (op_category(in.op)) {
  case OpCategory::Unary:
    return unary(in, src_t(in.a), v(in.a));
  case OpCategory::Binary: {
    Value* r = binary(in, src_t(in.a), v(in.a), v(in.b));
    return summed_product_[i] ? contract(r) : r;
  }
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
  case Op::Sym:
    return sym(in);
  case Op::ReduceIndex:
    return reduce_idx_.at(in.imm);
  case Op::FloorDiv:
  case Op::Mod:
    return binary(in, DType::I64, v(in.a), v(in.b));
  case Op::Load: {
    llvm::Type* mt = mem_type(in.dtype);
    // A masked load reads in a branch of its own, which the loop vectorizer turns into a masked
    // vector load; elsewhere it is 0.
    llvm::BasicBlock *before = b_.GetInsertBlock(), *read = nullptr, *after = nullptr;
    if (in.b >= 0) {
      read = llvm::BasicBlock::Create(ctx_, "masked.load", fn_);
      after = llvm::BasicBlock::Create(ctx_, "masked.done", fn_);
      b_.CreateCondBr(v(in.b), read, after);
      b_.SetInsertPoint(read);
    }
    Value* p = b_.CreateInBoundsGEP(mt, args_[in.imm], {v(in.a)});
    Value* x = b_.CreateAlignedLoad(mt, p, llvm::Align(dtype_size(in.dtype)));
    if (in.b >= 0) {
      b_.CreateBr(after);
      b_.SetInsertPoint(after);
      auto* phi = b_.CreatePHI(mt, 2);
      phi->addIncoming(x, read);
      phi->addIncoming(llvm::Constant::getNullValue(mt), before);
      x = phi;
    }
    return in.dtype == DType::Bool ? b_.CreateICmpNE(x, b_.getInt8(0)) : x;
  }
  default:
    break;
  }
  fail("codegen", "unexpected {} in kernel {}", op_name(in.op), k_.name);
}

void Emitter::emit_placed(int loop, int after) {
  for (size_t i = 0; i < k_.insts.size(); ++i) {
    if (place_[i].loop != loop || (after >= -1 && place_[i].after != after) ||
        is_reduce(k_.insts[i].op))
      continue;
    int r = reused_from_.empty() ? -1 : reused_from_[i];
    vals_[i] =
        r < 0 ? emit_inst(i) : b_.CreateLoad(mem_type(k_.insts[i].dtype), reuse_slot(reuse_[r]));
  }
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

} // namespace detail

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
                                        const HostTarget& target) {
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
    f->addFnAttr("target-cpu", target.cpu);
    f->addFnAttr("target-features", target.features);
    if (target.avx512) f->addFnAttr("prefer-vector-width", "512");
    f->addFnAttr(llvm::Attribute::NoUnwind);
  }
  body->addFnAttr(llvm::Attribute::AlwaysInline);
  // Distinct buffers never alias: noalias arguments let LLVM vectorize without runtime checks.
  for (size_t i = 0; i < k.args.size(); ++i) body->addParamAttr(i, llvm::Attribute::NoAlias);
  detail::Emitter(k, *m, target).emit_body(body);

  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  // args[] holds the buffer pointers, then a pointer to each parameter's value.
  std::vector<llvm::Value*> call_args;
  for (size_t i = 0; i < k.args.size() + k.params.size(); ++i) {
    auto* slot = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, entry->getArg(0), i));
    llvm::Value* p = slot;
    if (i < k.args.size()) {
      // Buffers start on 64-byte boundaries (runtime/allocator.cpp); unlike a parameter
      // attribute of the body, this survives inlining.
      auto* align = llvm::ConstantAsMetadata::get(b.getInt64(64));
      slot->setMetadata(llvm::LLVMContext::MD_align, llvm::MDNode::get(ctx, {align}));
    } else {
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
