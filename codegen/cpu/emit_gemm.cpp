// Packed, cache-blocked GEMM (passes/gemm_match.h): operand panels packed into the order a
// register-blocked FMA microkernel streams them, the kernel's elementwise consumers of the sum
// applied in the store (epilogue).
//
// Loop nest of one call (one thread's range, see GemmMatch::split_columns):
//   jc: columns in blocks of NC; pack B[0:K, jc:jc+NC] into NR-wide panels (K x NR each)
//     ic: rows in blocks of MC
//       pc: K in blocks of KC; pack A[ic:ic+MC, pc:pc+KC] into MR-tall panels (KC x MR each)
//         jr: NR-wide panels of the block; the B micro-panel (KC x NR) stays in L1
//           ir: MR-tall panels; microkernel: an MR x NR tile of sums over KC, in registers;
//               after the last pc, the epilogue evaluates the kernel's instructions after the
//               sum for each element of the tile and stores them.
// Packing is where an operand is read: a transposed view or an elementwise producer of an
// operand is evaluated there, once per packed element, at the kernel's own index expressions.
// Edges pack zeros, so the microkernel always runs a whole tile and only the epilogue is cut.
#include "codegen/cpu/emitter.h"

#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

// Per-thread packing buffers for GEMM kernels, bound into the JIT by address (jit.cpp). They
// are kept for the thread's life and only grow: fresh pages cost ~12 us each to first touch on
// our virtual machines (DESIGN.md), more than packing itself, and a GEMM asks for megabytes
// on every call. codegen/ cannot use the runtime's caching allocator (layering), and the
// stack is too small for a K x NC panel block. Kernels never nest, so one buffer per thread
// serves every GEMM kernel it runs.
extern "C" void* kiln_gemm_scratch(int64_t bytes) {
  struct Buffer {
    void* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buf;
  if (buf.size < bytes) {
    std::free(buf.data);
    int64_t size = (bytes + 4095) / 4096 * 4096;
    buf.data = std::aligned_alloc(4096, static_cast<size_t>(size));
    if (!buf.data) {
      // Kernels cannot unwind (nounwind JIT code): report and stop, like a failed new.
      std::fprintf(stderr, "kiln: cannot allocate %lld bytes of GEMM packing buffers\n",
                   static_cast<long long>(bytes));
      std::abort();
    }
    buf.size = size;
  }
  return buf.data;
}

namespace kiln::cpu::detail {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// rows[i][j] -> out[j][i] for a square block of vectors (8 x 8 or 4 x 4): unpack pairs, then
// 64-bit pairs, then 128-bit halves (_MM_TRANSPOSE8_PS's shuffles; x86 has one instruction for
// each).
std::vector<llvm::Value*> transpose(llvm::IRBuilder<>& b, std::vector<llvm::Value*> rows) {
  int n = static_cast<int>(rows.size());
  // Stage s pairs vectors d = 2^s apart and interleaves blocks of n / 2^(s+1) lanes... written
  // generically: after all stages, lane j of vector i holds rows[j][i].
  for (int d = 1; d < n; d *= 2) {
    std::vector<llvm::Value*> next(n);
    for (int i = 0; i < n; ++i) {
      if (i & d) continue;
      // Lanes whose index has bit d clear come from rows[i], the others from rows[i + d]:
      // out[i] takes lane l of rows[i] if bit d of l is clear, else lane (l - d) of rows[i+d];
      // out[i + d] takes lane (l + d) of rows[i] if bit d clear, else lane l of rows[i + d].
      std::vector<int> lo(n), hi(n);
      for (int l = 0; l < n; ++l) {
        lo[l] = (l & d) ? n + l - d : l;
        hi[l] = (l & d) ? n + l : l + d;
      }
      next[i] = b.CreateShuffleVector(rows[i], rows[i + d], lo);
      next[i + d] = b.CreateShuffleVector(rows[i], rows[i + d], hi);
    }
    rows = next;
  }
  return rows;
}

// Stores a microkernel's accumulators (vector i at c + i vectors), adding the partial sums
// already there when `accumulate` (an earlier pass over K).
void store_tile(llvm::IRBuilder<>& b, llvm::Value* accumulate, llvm::Value* c,
                const std::vector<llvm::Value*>& acc, llvm::Align align) {
  llvm::Type* vt = acc[0]->getType();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  auto at = [&](size_t i) { return b.CreateConstInBoundsGEP1_64(vt, c, i); };
  auto* add = llvm::BasicBlock::Create(b.getContext(), "add", f);
  auto* store = llvm::BasicBlock::Create(b.getContext(), "store", f);
  llvm::BasicBlock* computed = b.GetInsertBlock();
  b.CreateCondBr(accumulate, add, store);
  b.SetInsertPoint(add);
  std::vector<llvm::Value*> sum;
  for (size_t i = 0; i < acc.size(); ++i)
    sum.push_back(b.CreateFAdd(acc[i], b.CreateAlignedLoad(vt, at(i), align)));
  b.CreateBr(store);
  b.SetInsertPoint(store);
  std::vector<llvm::PHINode*> out;
  for (size_t i = 0; i < acc.size(); ++i) {
    out.push_back(b.CreatePHI(vt, 2));
    out.back()->addIncoming(acc[i], computed);
    out.back()->addIncoming(sum[i], add);
  }
  for (size_t i = 0; i < out.size(); ++i) b.CreateAlignedStore(out[i], at(i), align);
}

} // namespace

// Register tile and cache blocks. They come from a model of the host's caches (BLIS's
// analytical model, Low et al. 2016), not from autotuning: the sizes follow from the vector
// width and the L1/L2 sizes alone, cost nothing at compile time (a cold W4 step must compile
// in under a second, and a tuning search per shape would not), and are the same on every run,
// so the disk cache stays valid. A sweep of KC 128-512 and MC 72-504 (Zen 3, AVX2) and of
// KC 128-192 and MC 96-4096 (Xeon, AVX-512) found nothing better than these, within the
// noise of our shared virtual machines (about +-10%).
//  - MR x NR: as many accumulators as the register file holds with room for two B vectors and
//    an A broadcast: 6 x 2 vectors of 16 ymm registers (AVX2), 12 x 2 of 32 zmm (AVX-512),
//    the shapes of the BLIS/OpenBLAS Haswell and SkylakeX kernels.
//  - KC: the B micro-panel (KC x NR), reused by every A micro-panel of the block, and the A
//    micro-panel streaming from L2 (MR x KC) fill half of L1, so that neither evicts the other
//    (Zen 3: 184 for f32; a 48 KiB L1 with 12 x 32 tiles: 136).
//  - NC: the packed B block (K x NC) is at most 4 MiB, read from L3 once per MC rows.
//  - MC: the packed A block (MC x KC) and, when K takes several passes, the block's partial
//    sums (MC x NC) fill 3/4 of L2. Partial sums in L3 were slow where L3 is shared (Xeon
//    VM, 2048^3: 80% of OpenBLAS with 4 MiB of them).
// A symbolic M or K (read at launch) is planned as if it were long: MC and KC from the caches
// alone, and several passes over K assumed (so MC leaves L2 room for partial sums). NC is
// planned as if K were one KC panel long, which takes all of N up to a few thousand columns;
// only a K so long that the packed K x NC block passes 4 MiB then reads B from L3 once per MC
// rows instead of from L2 (slower, still correct).
Emitter::GemmBlocking Emitter::register_tile(DType t) const {
  GemmBlocking bl{};
  bl.width = std::max<int64_t>(1, target_.vector_bytes / dtype_size(t));
  bl.nr = 2 * bl.width;
  bl.mr = target_.vector_bytes >= 64 ? 12 : 6;
  return bl;
}

Emitter::GemmBlocking Emitter::gemm_blocking() const {
  const GemmMatch& g = *gemm_;
  int64_t elt = dtype_size(k_.insts[g.sum].dtype);
  GemmBlocking bl = register_tile(k_.insts[g.sum].dtype);
  bl.kc = std::max<int64_t>(16, target_.l1d_bytes / 2 / ((bl.mr + bl.nr) * elt) / 8 * 8);
  if (!g.K.symbolic()) bl.kc = std::min(bl.kc, g.K.value());
  int64_t k_plan = g.K.symbolic() ? bl.kc : g.K.value();
  bl.nc = std::max<int64_t>(bl.nr, (int64_t{4} << 20) / (k_plan * elt) / bl.nr * bl.nr);
  bl.nc = std::min(bl.nc, round_up(g.N, bl.nr));
  bl.multi_pass = g.K.symbolic() || g.K.value() > bl.kc;
  // Over several passes of K, the block's partial-sum tiles (MC x NC) share L2 with it.
  int64_t per_row = (bl.kc + (bl.multi_pass ? bl.nc : 0)) * elt;
  bl.mc = std::max<int64_t>(bl.mr, target_.l2_bytes * 3 / 4 / per_row / bl.mr * bl.mr);
  if (!g.M.symbolic()) bl.mc = std::min(bl.mc, round_up(g.M.value(), bl.mr));
  return bl;
}

std::vector<int> Emitter::operand_insts(int root, int stop) const {
  std::vector<bool> need(k_.insts.size(), false);
  need[root] = true;
  for (int i = root; i >= 0; --i) {
    if (!need[i] || i == stop) continue;
    const KInst& in = k_.insts[i];
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) need[s] = true;
  }
  std::vector<int> out;
  for (int i = 0; i <= root; ++i)
    if (need[i] && i != stop) out.push_back(i);
  return out;
}

Value* Emitter::operand_at(const std::vector<int>& insts, int axis, Value* x, Value* k) {
  loop_idx_[axis] = x;
  reduce_idx_.assign(1, k);
  for (int i : insts) vals_[i] = emit_inst(static_cast<size_t>(i));
  return vals_[insts.back()];
}

// Panels of R along `axis` (m for A, n for B) over [x0, x1), k over [k0, k0 + kc):
// dst[(p * ld + k) * R + r] = operand(x0 + p * R + r, k0 + k), 0 past x1. R is unrolled in
// the body, so a row-major operand's R loads are contiguous (B: SLP makes them vectors) and a
// k-contiguous one (A, or B read through a transpose) is R interleaved streams the loop
// vectorizer reads as vectors along k.
void Emitter::emit_pack(int root, int axis, Value* x0, Value* x1, Value* k0, Value* kc, int64_t r,
                        Value* dst, Value* ld) {
  std::vector<int> insts = operand_insts(root);
  DType t = k_.insts[root].dtype;
  llvm::Type* ty = reg_type(t);
  Value* full_end = b_.CreateAdd(
      x0, b_.CreateMul(b_.CreateSDiv(b_.CreateSub(x1, x0), b_.getInt64(r)), b_.getInt64(r)));
  // An operand read along k (B through a transpose: x @ W.t()) packs whole panels in T x T
  // blocks: T vector loads along k, transposed in registers, T vector stores along the panel.
  int64_t tb = 32 / dtype_size(t);
  const KInst& root_in = k_.insts[root];
  bool blocks = root_in.op == Op::Load && root_in.b < 0 && r % tb == 0 &&
                stride(root_in.a, Op::ReduceIndex, 0) == std::optional<int64_t>(1);
  // A plain load consecutive along the panel (B row-major) packs a whole panel's row with one
  // vector load: emitting it so spares the optimizer R scalar copies of the index arithmetic
  // for SLP to merge back (a cold compile's cost, issue 10).
  bool rows = !blocks && root_in.op == Op::Load && root_in.b < 0 &&
              stride(root_in.a, Op::LoopIndex, axis) == std::optional<int64_t>(1);
  std::vector<int> index_insts = blocks || rows ? operand_insts(root_in.a) : std::vector<int>{};
  bool lanes = !blocks && !rows && packs_by_lanes(root, axis);
  // An index-arithmetic operand consecutive along k (the transposed im2col view a convolution's
  // weight gradient reads) packs in the same T x T blocks, its rows read by lanes along k.
  bool k_lanes =
      lanes && r % tb == 0 && lanes_along_k(root, axis, k_.domain[axis].value(), gemm_->K.value());
  auto* vt = llvm::FixedVectorType::get(ty, static_cast<unsigned>(tb));
  llvm::Align align(dtype_size(t));
  auto panel = [&](Value* xb, bool partial) {
    Value* p = b_.CreateSDiv(b_.CreateSub(xb, x0), b_.getInt64(r));
    Value* base = b_.CreateMul(b_.CreateMul(p, ld), b_.getInt64(r));
    Value* k_rest = b_.getInt64(0);
    if ((blocks || k_lanes) && !partial) {
      k_rest = b_.CreateAnd(kc, b_.getInt64(~(tb - 1)));
      auto* kb = open_loop(b_.getInt64(0), k_rest, "pkt", tb);
      for (int64_t g = 0; g < r; g += tb) {
        std::vector<Value*> rows;
        for (int64_t i = 0; i < tb; ++i) {
          Value* x = b_.CreateAdd(xb, b_.getInt64(g + i));
          if (k_lanes) {
            loop_idx_[axis] = x;
            rows.push_back(operand_lanes(root, -1, b_.CreateAdd(k0, kb), nullptr, nullptr, tb));
            continue;
          }
          Value* at = operand_at(index_insts, axis, x, b_.CreateAdd(k0, kb));
          rows.push_back(
              b_.CreateAlignedLoad(vt, b_.CreateInBoundsGEP(ty, args_[root_in.imm], {at}), align));
        }
        std::vector<Value*> cols = transpose(b_, rows);
        for (int64_t j = 0; j < tb; ++j) {
          Value* row =
              b_.CreateAdd(base, b_.CreateMul(b_.CreateAdd(kb, b_.getInt64(j)), b_.getInt64(r)));
          b_.CreateAlignedStore(
              cols[j], b_.CreateInBoundsGEP(ty, dst, {b_.CreateAdd(row, b_.getInt64(g))}), align);
        }
      }
      close_loop(kb, true);
    }
    auto* k = open_loop(k_rest, kc, "pk");
    Value* row = b_.CreateAdd(base, b_.CreateMul(k, b_.getInt64(r)));
    Value* kk = b_.CreateAdd(k0, k);
    if (rows && !partial) {
      Value* at = operand_at(index_insts, axis, xb, kk);
      auto* panel_row = llvm::FixedVectorType::get(ty, static_cast<unsigned>(r));
      Value* v = b_.CreateAlignedLoad(panel_row, b_.CreateInBoundsGEP(ty, args_[root_in.imm], {at}),
                                      align);
      b_.CreateAlignedStore(v, b_.CreateInBoundsGEP(ty, dst, {row}), align);
      close_loop(k, true);
      return;
    }
    if (lanes && !k_lanes) {
      Value* v = operand_lanes(root, axis, xb, kk, partial ? x1 : nullptr, r);
      b_.CreateAlignedStore(v, b_.CreateInBoundsGEP(ty, dst, {row}), align);
      close_loop(k, true);
      return;
    }
    Value* last = b_.CreateSub(x1, b_.getInt64(1));
    for (int64_t i = 0; i < r; ++i) {
      Value* x = b_.CreateAdd(xb, b_.getInt64(i));
      // Past the edge: read a valid element (clamped), store 0.
      Value* v = operand_at(
          insts, axis, partial ? b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, last) : x, kk);
      if (partial) v = b_.CreateSelect(b_.CreateICmpSLT(x, x1), v, llvm::ConstantFP::get(ty, 0));
      Value* at = b_.CreateInBoundsGEP(ty, dst, {b_.CreateAdd(row, b_.getInt64(i))});
      b_.CreateAlignedStore(v, at, llvm::Align(dtype_size(t)));
    }
    llvm::BranchInst* latch = close_loop(k, true);
    if (partial) keep_loop_scalar(latch); // the last panel: once per block
  };
  auto* xb = open_loop(x0, full_end, "px", r);
  panel(xb, false);
  close_loop(xb, true);
  auto* rest = open_loop(full_end, x1, "px", r); // at most once
  panel(rest, true);
  close_loop(rest, true);
}

// void micro(ptr a, ptr b, i64 kc, ptr c, i1 accumulate): c[MR x NR] (+)= a-panel * b-panel.
// The accumulators are loop phis of vector type, so they live in registers for the whole k
// loop; unrolled by 4 to amortise the loop's own instructions.
llvm::Function* Emitter::emit_microkernel(const GemmBlocking& bl, DType t) {
  llvm::Type* et = reg_type(t);
  auto* vt = llvm::FixedVectorType::get(et, static_cast<unsigned>(bl.width));
  auto* ptr = llvm::PointerType::getUnqual(ctx_);
  auto* fty = llvm::FunctionType::get(b_.getVoidTy(),
                                      {ptr, ptr, b_.getInt64Ty(), ptr, b_.getInt1Ty()}, false);
  auto* f = llvm::Function::Create(fty, llvm::Function::InternalLinkage, k_.name + ".micro", m_);
  for (llvm::Attribute::AttrKind a : {llvm::Attribute::NoInline, llvm::Attribute::NoUnwind})
    f->addFnAttr(a);
  for (const auto& attr : fn_->getAttributes().getFnAttrs())
    if (attr.isStringAttribute()) f->addFnAttr(attr);
  for (unsigned i : {0u, 1u, 3u}) f->addParamAttr(i, llvm::Attribute::NoAlias);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
  Value *a = f->getArg(0), *bp = f->getArg(1), *kc = f->getArg(2), *c = f->getArg(3);
  int64_t nv = bl.nr / bl.width, elt = dtype_size(t);
  llvm::Align valign(std::min<int64_t>(64, bl.width * elt));
  // The tile's earlier partial sums are added after the k loop, and their cache lines are
  // requested first: between passes over K they are a block's worth of tiles away, past L2.
  for (int64_t line = 0; line < bl.mr * bl.nr * elt; line += 64)
    b.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr},
                      {b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), c, line), b.getInt32(1),
                       b.getInt32(3), b.getInt32(1)}); // for writing, into L1, data
  std::vector<Value*> acc(bl.mr * nv, llvm::Constant::getNullValue(vt));
  auto step = [&](Value* k, std::vector<Value*>& acc) {
    std::vector<Value*> bv;
    for (int64_t v = 0; v < nv; ++v) {
      Value* off = b.CreateAdd(b.CreateMul(k, b.getInt64(bl.nr)), b.getInt64(v * bl.width));
      bv.push_back(b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(et, bp, {off}), valign));
    }
    for (int64_t r = 0; r < bl.mr; ++r) {
      Value* off = b.CreateAdd(b.CreateMul(k, b.getInt64(bl.mr)), b.getInt64(r));
      Value* s = b.CreateAlignedLoad(et, b.CreateInBoundsGEP(et, a, {off}), llvm::Align(elt));
      Value* splat = b.CreateVectorSplat(static_cast<unsigned>(bl.width), s);
      for (int64_t v = 0; v < nv; ++v) {
        Value*& x = acc[r * nv + v];
        x = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vt}, {splat, bv[v], x});
      }
    }
  };
  // for (k = lo; k < hi; k += unroll) step(k)..step(k + unroll - 1), accumulators as phis.
  auto loop = [&](Value* lo, Value* hi, int64_t unroll, const char* name) {
    llvm::BasicBlock* pre = b.GetInsertBlock();
    auto* head = llvm::BasicBlock::Create(ctx_, std::string(name) + ".head", f);
    auto* body = llvm::BasicBlock::Create(ctx_, std::string(name) + ".body", f);
    auto* exit = llvm::BasicBlock::Create(ctx_, std::string(name) + ".exit", f);
    b.CreateBr(head);
    b.SetInsertPoint(head);
    auto* k = b.CreatePHI(b.getInt64Ty(), 2);
    k->addIncoming(lo, pre);
    std::vector<llvm::PHINode*> phis;
    for (Value*& x : acc) {
      phis.push_back(b.CreatePHI(vt, 2));
      phis.back()->addIncoming(x, pre);
      x = phis.back();
    }
    b.CreateCondBr(b.CreateICmpSLT(k, hi), body, exit);
    b.SetInsertPoint(body);
    for (int64_t u = 0; u < unroll; ++u) step(b.CreateAdd(k, b.getInt64(u)), acc);
    k->addIncoming(b.CreateAdd(k, b.getInt64(unroll), "", true, true), b.GetInsertBlock());
    for (size_t i = 0; i < acc.size(); ++i) phis[i]->addIncoming(acc[i], b.GetInsertBlock());
    keep_loop_rolled(b.CreateBr(head));
    b.SetInsertPoint(exit);
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = phis[i];
  };
  const int64_t unroll = 4;
  Value* kc_main = b.CreateAnd(kc, b.getInt64(~(unroll - 1)));
  loop(b.getInt64(0), kc_main, unroll, "k4");
  loop(kc_main, kc, 1, "k1");
  store_tile(b, f->getArg(4), c, acc, valign);
  b.CreateRetVoid();
  return f;
}

// The kernel's instructions after the sum, for rows [i0, i0 + rows) and columns
// [j0, j0 + cols) of a finished tile (row u at tile + u * NR).
void Emitter::emit_gemm_epilogue(Value* tile, Value* i0, Value* j0, Value* rows, Value* cols,
                                 int64_t nr) {
  const GemmMatch& g = *gemm_;
  llvm::Type* et = reg_type(k_.insts[g.sum].dtype);
  auto* u = open_loop(b_.getInt64(0), rows, "eu");
  loop_idx_[g.m_axis] = b_.CreateAdd(i0, u);
  auto* jj = open_loop(b_.getInt64(0), cols, "ej");
  loop_idx_[g.n_axis] = b_.CreateAdd(j0, jj);
  Value* at = b_.CreateAdd(b_.CreateMul(u, b_.getInt64(nr)), jj);
  vals_[g.sum] = b_.CreateLoad(et, b_.CreateInBoundsGEP(et, tile, {at}));
  emit_placed(-1, -1);
  emit_placed(-1, 0);
  emit_stores(-1);
  bool edge = !llvm::isa<llvm::ConstantInt>(cols);
  llvm::BranchInst* latch = close_loop(jj, edge);
  if (edge) keep_loop_scalar(latch); // the block's last column of tiles only
  close_loop(u, edge);
}

void Emitter::prefetch_epilogue(Value* i0, Value* j0, int64_t mr, int64_t nr) {
  const GemmMatch& g = *gemm_;
  struct Access {
    int index, arg;
    DType dtype;
    bool write;
  };
  std::vector<Access> accesses;
  for (size_t i = 0; i < k_.insts.size(); ++i)
    if (k_.insts[i].op == Op::Load && place_[i].loop == -1)
      accesses.push_back(
          {k_.insts[i].a, static_cast<int>(k_.insts[i].imm), k_.insts[i].dtype, false});
  for (const KStore& st : k_.stores)
    accesses.push_back({st.index, st.arg, k_.args[st.arg].dtype, true});
  for (const Access& x : accesses) {
    // Only rows contiguous along the tile's columns (or one element broadcast across them):
    // a tile row is then one or two cache lines.
    auto along_n = stride(x.index, Op::LoopIndex, g.n_axis);
    auto along_m = stride(x.index, Op::LoopIndex, g.m_axis);
    if (!along_n || !along_m || (*along_n != 0 && *along_n != 1)) continue;
    int64_t bytes = *along_n * nr * static_cast<int64_t>(dtype_size(x.dtype));
    std::vector<int> insts = operand_insts(x.index);
    for (int64_t u = 0; u < (*along_m == 0 ? 1 : mr); ++u) {
      loop_idx_[g.m_axis] = b_.CreateAdd(i0, b_.getInt64(u));
      loop_idx_[g.n_axis] = j0;
      for (int i : insts) vals_[i] = emit_inst(static_cast<size_t>(i));
      // Not inbounds: past the last row this points outside the buffer, which a prefetch allows.
      Value* p = b_.CreateGEP(mem_type(x.dtype), args_[x.arg], {vals_[x.index]});
      for (int64_t off = 0; off == 0 || off < bytes; off += 64)
        b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {p->getType()},
                           {b_.CreateConstGEP1_64(b_.getInt8Ty(), p, off),
                            b_.getInt32(x.write ? 1 : 0), b_.getInt32(3), b_.getInt32(1)});
    }
  }
}

void Emitter::emit_gemm_block(const GemmBlocking& bl, const GemmBuffers& buf, Value* r0, Value* r1,
                              Value* c0, Value* c1) {
  const GemmMatch& g = *gemm_;
  llvm::Type* et = reg_type(k_.insts[g.sum].dtype);
  auto min = [&](Value* x, Value* y) {
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
  };
  auto i64 = [&](int64_t v) { return b_.getInt64(v); };
  Value* K = buf.k;
  Value* one_pass = b_.CreateICmpSLE(K, i64(bl.kc));
  int64_t tiles_per_col = round_up(bl.mc, bl.mr) / bl.mr;

  auto* jc = open_loop(c0, c1, "jc", bl.nc);
  Value* jend = min(b_.CreateAdd(jc, i64(bl.nc)), c1);
  emit_pack(g.b, g.n_axis, jc, jend, i64(0), K, bl.nr, buf.b, K);
  auto* ic = open_loop(r0, r1, "ic", bl.mc);
  Value* iend = min(b_.CreateAdd(ic, i64(bl.mc)), r1);
  // An empty sum (a symbolic K of 0) still takes one pass: the microkernel stores zeros for the
  // epilogue, which must run (a bias, say).
  Value* passes_end = b_.CreateSelect(b_.CreateICmpSGT(K, i64(0)), K, i64(1));
  auto* pc = open_loop(i64(0), passes_end, "pc", bl.kc);
  Value* kc = min(i64(bl.kc), b_.CreateSub(K, pc));
  emit_pack(g.a, g.m_axis, ic, iend, pc, kc, bl.mr, buf.a, kc);
  Value* accumulate = b_.CreateICmpSGT(pc, i64(0));
  Value* last = b_.CreateICmpSGE(b_.CreateAdd(pc, i64(bl.kc)), K);
  auto* jr = open_loop(jc, jend, "jr", bl.nr);
  Value* pj = b_.CreateSDiv(b_.CreateSub(jr, jc), i64(bl.nr));
  Value* b_panel = b_.CreateInBoundsGEP(
      et, buf.b, {b_.CreateMul(b_.CreateAdd(b_.CreateMul(pj, K), pc), i64(bl.nr))});
  auto* ir = open_loop(ic, iend, "ir", bl.mr);
  Value* pi = b_.CreateSDiv(b_.CreateSub(ir, ic), i64(bl.mr));
  Value* a_panel =
      b_.CreateInBoundsGEP(et, buf.a, {b_.CreateMul(b_.CreateMul(pi, kc), i64(bl.mr))});
  // One pass over K: one tile reused (it stays in L1). Several: a tile per (jr, ir) of the
  // block, holding its partial sums between passes.
  Value* tile = b_.CreateSelect(
      one_pass, buf.c,
      b_.CreateInBoundsGEP(et, buf.c,
                           {b_.CreateMul(b_.CreateAdd(b_.CreateMul(pj, i64(tiles_per_col)), pi),
                                         i64(bl.mr * bl.nr))}));
  // The last pass over K requests the epilogue's rows before the microkernel runs: read down
  // a panel's column of tiles, each row of a tile is a line in another page of C (and of
  // every operand the epilogue reads), which the hardware prefetchers do not follow. A gated
  // MLP's epilogue, silu(g) * acc, stalled on them (~370 -> ~335 ms per launch at 2048 x 2816,
  // against 300 ms for the product alone).
  auto* prefetch = llvm::BasicBlock::Create(ctx_, "epilogue.prefetch", fn_);
  auto* compute = llvm::BasicBlock::Create(ctx_, "tile.compute", fn_);
  b_.CreateCondBr(last, prefetch, compute);
  b_.SetInsertPoint(prefetch);
  prefetch_epilogue(ir, jr, bl.mr, bl.nr);
  b_.CreateBr(compute);
  b_.SetInsertPoint(compute);
  b_.CreateCall(buf.micro, {a_panel, b_panel, kc, tile, accumulate});

  auto* epilogue = llvm::BasicBlock::Create(ctx_, "epilogue", fn_);
  auto* done = llvm::BasicBlock::Create(ctx_, "tile.done", fn_);
  b_.CreateCondBr(last, epilogue, done);
  b_.SetInsertPoint(epilogue);
  // Tiles of the whole width NR (all but the block's last column of tiles, the bottom edge
  // included) run rows of a constant length (unrolled, vectorized); the last column's tiles
  // scalar loops.
  Value* rows = min(i64(bl.mr), b_.CreateSub(iend, ir));
  Value* cols = min(i64(bl.nr), b_.CreateSub(jend, jr));
  auto* whole = llvm::BasicBlock::Create(ctx_, "tile.whole", fn_);
  auto* edge = llvm::BasicBlock::Create(ctx_, "tile.edge", fn_);
  b_.CreateCondBr(b_.CreateICmpEQ(cols, i64(bl.nr)), whole, edge);
  b_.SetInsertPoint(whole);
  emit_gemm_epilogue(tile, ir, jr, rows, i64(bl.nr), bl.nr);
  b_.CreateBr(done);
  b_.SetInsertPoint(edge);
  emit_gemm_epilogue(tile, ir, jr, rows, cols, bl.nr);
  b_.CreateBr(done);
  b_.SetInsertPoint(done);

  for (auto* loop : {ir, jr, pc, ic, jc}) close_loop(loop, true);
}

void Emitter::emit_gemm(Value* begin, Value* end) {
  const GemmMatch& g = *gemm_;
  GemmBlocking bl = gemm_blocking();
  DType t = k_.insts[g.sum].dtype;
  int64_t elt = dtype_size(t);
  auto i64 = [&](int64_t v) { return b_.getInt64(v); };
  GemmBuffers buf;
  Value* M = extent(g.M);
  buf.k = extent(g.K);
  // The packed B block (K x NC) rounded up to a cache line: its size is known at launch only
  // when K is symbolic.
  Value* b_bytes = b_.CreateAnd(
      b_.CreateAdd(b_.CreateMul(buf.k, i64(round_up(bl.nc, bl.nr) * elt)), i64(63)), i64(~63));
  int64_t a_bytes = round_up(round_up(bl.mc, bl.mr) * bl.kc * elt, 64);
  int64_t c_bytes =
      bl.multi_pass ? round_up(bl.mc, bl.mr) * round_up(bl.nc, bl.nr) * elt : bl.mr * bl.nr * elt;
  auto* ptr = llvm::PointerType::getUnqual(ctx_);
  auto scratch = m_.getOrInsertFunction("kiln_gemm_scratch", ptr, b_.getInt64Ty());
  Value* base = b_.CreateCall(scratch, {b_.CreateAdd(b_bytes, i64(a_bytes + c_bytes))});
  buf.b = base;
  buf.a = b_.CreateInBoundsGEP(b_.getInt8Ty(), base, {b_bytes});
  buf.c = b_.CreateInBoundsGEP(b_.getInt8Ty(), base, {b_.CreateAdd(b_bytes, i64(a_bytes))});
  buf.micro = emit_microkernel(bl, t);

  size_t nd = k_.domain.size();
  if (nd == 2) {
    // Along the columns (GemmMatch::split_columns), this call's share is [begin * N / M,
    // end * N / M) in whole NR panels.
    Value* divisor = b_.CreateSelect(b_.CreateICmpSGT(M, i64(0)), M, i64(1)); // a launch has M > 0
    auto cols_at = [&](Value* x) {
      Value* c = b_.CreateSDiv(b_.CreateMul(x, i64(g.N)), divisor);
      c = b_.CreateMul(b_.CreateSDiv(c, i64(bl.nr)), i64(bl.nr));
      return b_.CreateSelect(b_.CreateICmpSGE(x, M), i64(g.N), c);
    };
    auto by_columns = [&] { emit_gemm_block(bl, buf, i64(0), M, cols_at(begin), cols_at(end)); };
    auto by_rows = [&] { emit_gemm_block(bl, buf, begin, end, i64(0), i64(g.N)); };
    if (!g.M.symbolic()) {
      g.split_columns ? by_columns() : by_rows();
      return;
    }
    // A symbolic M is compared with N at launch, each way compiled: one block over bounds
    // selected at launch ran 3% slower at 256 x 784 x 256 (LLVM no longer saw that the rows'
    // way runs one NC block of columns), and a symbolic kernel compiles once for every size.
    auto* columns = llvm::BasicBlock::Create(ctx_, "split.columns", fn_);
    auto* rows = llvm::BasicBlock::Create(ctx_, "split.rows", fn_);
    auto* done = llvm::BasicBlock::Create(ctx_, "split.done", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(M, i64(g.N)), columns, rows);
    b_.SetInsertPoint(columns);
    by_columns();
    b_.CreateBr(done);
    b_.SetInsertPoint(rows);
    by_rows();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
    return;
  }
  std::vector<llvm::PHINode*> batch;
  for (size_t d = 0; d + 2 < nd; ++d) {
    batch.push_back(d == 0 ? open_loop(begin, end, "batch")
                           : open_loop(i64(0), extent(k_.domain[d]), "batch"));
    loop_idx_[d] = batch.back();
  }
  emit_gemm_block(bl, buf, i64(0), M, i64(0), i64(g.N));
  for (size_t d = batch.size(); d-- > 0;) close_loop(batch[d]);
}

} // namespace kiln::cpu::detail
