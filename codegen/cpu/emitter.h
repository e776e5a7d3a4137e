// The kernel-IR -> LLVM-IR emitter, shared by llvm_emit.cpp (loops, scalar ops, the body) and
// emit_stages.cpp (reduction stages and tiled reductions).
#pragma once
#include "codegen/cpu/llvm_emit.h"
#include "ir/kernel.h"
#include "passes/attention_match.h"
#include "passes/gemm_match.h"
#include "passes/stage_reuse.h"

#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <optional>

namespace kiln::cpu {

llvm::Type* scalar_type(llvm::LLVMContext& ctx, DType t);

namespace detail {

// Marks the loop whose back edge is `latch` as not to be unrolled; with `interleave`, the loop
// vectorizer interleaves that many vector iterations.
void keep_loop_rolled(llvm::BranchInst* latch, int64_t interleave = 0);
// Marks it as not to be unrolled nor vectorized: for loops at the edges of a GEMM, which run
// once per block, where vector code would cost more compile time than it saves run time.
void keep_loop_scalar(llvm::BranchInst* latch);
// Asks the loop vectorizer to interleave `count` vector iterations.
void interleave_loop(llvm::BranchInst* latch, int64_t count);

using llvm::IRBuilder;
using llvm::Value;

class Emitter {
public:
  Emitter(const Kernel& k, llvm::Module& m, const HostTarget& target)
      : k_(k), m_(m), ctx_(m.getContext()), b_(ctx_), target_(target) {}
  void emit_body(llvm::Function* f);

private:
  // The domain's loop nest over [begin, end) of its first loop, and everything inside.
  // `interleave`: vector iterations per loop iteration of the outermost loop (streaming stores
  // need whole cache lines written per iteration).
  void emit_nest(Value* begin, Value* end, bool tiled, int64_t interleave = 1);
  // A 1-D domain storing into an output large enough for streaming stores.
  bool streams_by_domain() const;
  // A stage-free kernel that reads an input across its last two loops (a transposing copy): its
  // last two loops run in blocks.
  bool reads_transposed() const;

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
  // Lets LLVM fuse a multiply and an add into one FMA (one rounding instead of two). Used only
  // for a reduction's sum and a product that only that sum reads (a matmul's dot products): a
  // reduction is reassociated anyway, while elementwise results must round exactly as unfused
  // kernels do.
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
  Value* extent(const SymInt& v); // a loop's trip count: symbolic ones from their parameter
  Value* sym(const KInst& in);    // a sym instruction's value (ir/sym_literal.h)
  Value* reduce_init(const KInst& in);
  Value* emit_inst(size_t i);
  // Opens a counted loop [lo, hi) by step; returns the index phi. close_loop() finishes it.
  llvm::PHINode* open_loop(Value* lo, Value* hi, const char* name, int64_t step = 1);
  Value* accumulate(const KInst& in, Value* acc, Value* x);
  void emit_placed(int loop, int after);
  void emit_stores(int loop);
  std::vector<size_t> reductions(int stage) const;
  std::vector<bool> summed_products() const;
  std::optional<int64_t> stride(int inst, Op loop, int64_t axis) const {
    return index_stride(k_, inst, loop, axis);
  }
  bool use_tiled_reduction() const;
  void emit_stage(int stage);
  // Stage 0 reads a row from memory and later stages compute from cache, leaving the memory
  // system idle unless the next row is requested first: after stage 0, prefetches (one per cache
  // line) the next outer iteration's elements of each contiguous load of stage 0. Layernorm over
  // [8192, 1024] runs 1.3-1.7x faster.
  void prefetch_next_row();
  // Tiled reductions over [lo, hi) of the last loop, for the rows [row_lo, row_hi) of the loop
  // before it (nullptr: a one-loop domain).
  void emit_tiled_reduction(Value* lo, Value* hi, Value* row_lo, Value* row_hi);
  // One tile of columns; `totals` (one per reduction of the row, nullptr where unused): the
  // second level of a chunked float sum.
  static constexpr int64_t kSumChunk = 64;
  void emit_tile(const std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>>& accs,
                 Value* j0, Value* count, Value* row,
                 const std::vector<llvm::AllocaInst*>& totals = {});
  // keep_rolled: LLVM must not unroll the loop (GEMM block loops and packing: unrolling them
  // buys nothing and costs compile time).
  llvm::BranchInst* close_loop(llvm::PHINode* iv, bool keep_rolled = false);

  // Packed GEMM (emit_gemm.cpp), for kernels passes/gemm_match.h recognises.
  struct GemmBlocking {
    int64_t width, mr, nr, kc, mc, nc; // width: elements per vector register
    bool multi_pass;                   // K may take several KC passes (a symbolic K may)
  };
  struct GemmBuffers {
    Value *a, *b, *c; // packed A block, packed B block, partial-sum tiles
    Value* k;         // the reduction's extent (read from the size parameter when symbolic)
    llvm::Function* micro;
  };
  GemmBlocking register_tile(DType t) const; // width, MR and NR for the host (no cache blocks)
  GemmBlocking gemm_blocking() const;
  void emit_gemm(Value* begin, Value* end);
  void emit_gemm_block(const GemmBlocking& bl, const GemmBuffers& buf, Value* r0, Value* r1,
                       Value* c0, Value* c1);
  llvm::Function* emit_microkernel(const GemmBlocking& bl, DType t);
  void emit_pack(int root, int axis, Value* x0, Value* x1, Value* k0, Value* kc, int64_t r,
                 Value* dst, Value* ld);
  void emit_gemm_epilogue(Value* tile, Value* i0, Value* j0, Value* rows, Value* cols, int64_t nr);
  // Prefetches what the epilogue of the MR x NR tile at (i0, j0) reads and writes.
  void prefetch_epilogue(Value* i0, Value* j0, int64_t mr, int64_t nr);
  // root and what it reads, in order; not what `stop` reads, nor stop itself.
  std::vector<int> operand_insts(int root, int stop = -1) const;
  // Packing R lanes of a panel at once (emit_pack_lanes.cpp): for operands read through index
  // arithmetic (an im2col view), vector index math, masked vector loads or gathers.
  bool packs_by_lanes(int root, int axis) const;
  bool lanes_along_k(int root, int axis, int64_t extent, int64_t K) const;
  Value* operand_lanes(int root, int axis, Value* xb, Value* k, Value* x1, int64_t r);
  Value* load_lanes(const KInst& in, Value* idx, Value* mask, Value* vx, Value* x1, int64_t r,
                    bool consecutive);
  Value* operand_at(const std::vector<int>& insts, int axis, Value* x, Value* k);
  // Flash-style attention (emit_attention.cpp), for kernels passes/attention_match.h recognises.
  struct AttentionBuffers {
    GemmBlocking bl;                  // the register tile (no cache blocks)
    int64_t chunk = 0;                // keys per pass of the online softmax (at most)
    Value *m, *l;                     // query rows and keys (read at launch when symbolic)
    Value *k, *v, *q, *s, *o, *stats; // packed K, V^T, Q^T; S^T of a chunk; O^T; statistics
    llvm::Function* micro;
  };
  void emit_attention(Value* begin, Value* end);
  void emit_attention_rows(const AttentionBuffers& buf, Value* m0);
  void emit_attention_chunk(const AttentionBuffers& buf, Value* m0, Value* j0);
  void emit_attention_pack(int root, Value* lanes_end, int64_t r, Value* len, Value* dst,
                           const std::function<void(Value*, Value*)>& bind);
  Value* round_up_value(Value* x, int64_t m);
  Value* emit_attention_scores(const AttentionBuffers& buf, Value* m0, Value* j0, Value* keys);
  Value* stat(const AttentionBuffers& buf, int64_t row, Value* c); // statistics row, query c
  Value* attention_load(Value* p); // an element of the attention's dtype
  void attention_store(Value* v, Value* p);
  // Evaluates insts in order, each stage's index from attention_index_.
  void eval_attention(const std::vector<int>& insts);
  // Values kept from an earlier stage for later ones (see passes/stage_reuse.h).
  void plan_stage_reuse();
  Value* reuse_slot(const StageReuse& r); // its element for the current stage iteration

  const Kernel& k_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  IRBuilder<> b_;
  const HostTarget& target_;
  std::optional<GemmMatch> gemm_;
  std::optional<AttentionKernel> attention_;
  std::vector<Value*> attention_index_; // per stage, its index where attention code runs
  llvm::Function* fn_ = nullptr;
  std::vector<Value*> args_, vals_, loop_idx_, reduce_idx_;
  std::vector<Placement> place_;
  std::vector<StageReuse> reuse_;
  std::vector<llvm::AllocaInst*> reuse_buf_; // per reuse_ entry, one stage's iterations
  std::vector<int> reused_from_;             // per instruction: its reuse_ entry, or -1
  std::vector<bool> summed_product_;         // per instruction: a float product read only by a Sum
  struct LoopState {
    llvm::BasicBlock *header, *exit;
    Value* hi;
    int64_t step;
  };
  std::vector<std::pair<llvm::PHINode*, LoopState>> loops_;
};

} // namespace detail
} // namespace kiln::cpu
