// The loop nest of a kernel: the domain's loops split across threads, and inside them the
// stages, the tiled reductions (matmul) or the blocks of a transposing copy.
#include "codegen/cpu/emitter.h"
#include "codegen/cpu/streaming_stores.h"
#include "ir/error.h"

#include <algorithm>
#include <cstdlib>

namespace kiln::cpu::detail {

void Emitter::emit_nest(Value* begin, Value* end, bool tiled, int64_t interleave) {
  std::vector<SymInt> dims = k_.domain.empty() ? std::vector<SymInt>{1} : k_.domain;
  std::vector<llvm::PHINode*> outer;
  bool blocked = !tiled && !k_.symbolic() && reads_transposed();
  // The tiled path owns the last loop, and the one before (blocks of rows) when there is one;
  // the blocked path the last two loops.
  size_t looped = tiled || blocked ? (dims.size() >= 2 ? dims.size() - 2 : 0) : dims.size();
  for (size_t d = 0; d < looped; ++d) {
    auto* iv =
        d == 0 ? open_loop(begin, end, "i0") : open_loop(b_.getInt64(0), extent(dims[d]), "i");
    outer.push_back(iv);
    loop_idx_[d] = iv;
  }
  if (tiled && dims.size() == 1) {
    emit_tiled_reduction(begin, end, nullptr, nullptr);
  } else if (tiled) {
    size_t m = dims.size() - 2;
    emit_tiled_reduction(b_.getInt64(0), b_.getInt64(dims.back().value()),
                         m == 0 ? begin : b_.getInt64(0),
                         m == 0 ? end : b_.getInt64(dims[m].value()));
  } else if (blocked) {
    // Blocks of 8 x 8: the lines a block reads and writes stay in cache while it runs. Rows of a
    // power-of-two stride share one cache set (12 ways): 1024^2 floats move 4x faster in 8 x 8
    // blocks than in 16 x 16 ones. Blocks of whole columns run a constant trip count.
    const int64_t block = 8, col_block = 8;
    size_t m = dims.size() - 2;
    Value* lo = m == 0 ? begin : b_.getInt64(0);
    Value* hi = m == 0 ? end : b_.getInt64(dims[m].value());
    int64_t cols = dims.back().value(), full = cols / col_block * col_block;
    auto* ib = open_loop(lo, hi, "ib", block);
    Value* iend =
        b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b_.CreateAdd(ib, b_.getInt64(block)), hi);
    auto rows_of = [&](Value* j0, Value* j1) { // columns [j0, j1) of rows [ib, iend)
      auto* i = open_loop(ib, iend, "i");
      auto* j = open_loop(j0, j1, "j");
      loop_idx_[m] = i;
      loop_idx_[m + 1] = j;
      emit_placed(-1, -1);
      emit_stores(-1);
      close_loop(j);
      close_loop(i);
    };
    auto* jb = open_loop(b_.getInt64(0), b_.getInt64(full), "jb", col_block);
    rows_of(jb, b_.CreateAdd(jb, b_.getInt64(col_block)));
    close_loop(jb);
    if (full < cols) rows_of(b_.getInt64(full), b_.getInt64(cols));
    close_loop(ib);
  } else {
    // Stages run in order; what needs stage s's results is computed right after it.
    emit_placed(-1, -1);
    for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) {
      emit_stage(s);
      if (s == 0) prefetch_next_row();
      emit_placed(-1, s);
    }
    emit_stores(-1);
  }
  for (int d = static_cast<int>(outer.size()) - 1; d >= 0; --d) {
    llvm::BranchInst* latch = close_loop(outer[d]);
    if (d == 0 && interleave > 1) interleave_loop(latch, interleave);
  }
}

bool Emitter::reads_transposed() const {
  size_t n = k_.domain.size();
  if (n < 2 || !k_.stages.empty()) return false;
  for (size_t i = 0; i < k_.insts.size(); ++i) {
    if (k_.insts[i].op != Op::Load) continue;
    auto rows = stride(k_.insts[i].a, Op::LoopIndex, static_cast<int64_t>(n) - 2);
    auto cols = stride(k_.insts[i].a, Op::LoopIndex, static_cast<int64_t>(n) - 1);
    if (rows == std::optional<int64_t>(1) && cols && std::abs(*cols) >= 16) return true;
  }
  return false;
}

bool Emitter::streams_by_domain() const {
  if (k_.domain.size() != 1 || k_.symbolic()) return false;
  for (const KStore& st : k_.stores) {
    const KArg& a = k_.args[st.arg];
    if (k_.store_placement(st, place_).loop < 0 &&
        a.numel.value() * static_cast<int64_t>(dtype_size(a.dtype)) >= kStreamingStoreBytes)
      return true;
  }
  return false;
}

void Emitter::emit_body(llvm::Function* f) {
  fn_ = f;
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", f);
  b_.SetInsertPoint(entry);
  size_t nargs = k_.args.size(), nparams = k_.params.size();
  for (size_t i = 0; i < nargs; ++i) args_.push_back(f->getArg(i));
  Value* begin = f->getArg(nargs + nparams);
  Value* end = f->getArg(nargs + nparams + 1);
  place_ = k_.placements();
  vals_.assign(k_.insts.size(), nullptr);
  summed_product_ = summed_products();
  loop_idx_.assign(std::max<size_t>(k_.domain.size(), 1), nullptr);
  gemm_ = match_gemm(k_);
  if (gemm_) {
    emit_gemm(begin, end);
    b_.CreateRetVoid();
    return;
  }
  attention_ = match_attention_kernel(k_);
  if (attention_) {
    emit_attention(begin, end);
    b_.CreateRetVoid();
    return;
  }
  for (const KInst& in : k_.insts)
    if (in.op == Op::SoftmaxSum)
      fail("codegen",
           "kernel {}: softmax_sum outside an attention kernel of the form "
           "passes/attention_match.h describes",
           k_.name);
  bool tiled = use_tiled_reduction();
  if (!tiled) plan_stage_reuse();
  if (!tiled && streams_by_domain()) {
    // A thread's range of a 1-D domain starts anywhere: its first iterations up to a multiple
    // of 16 run apart, so that the main loop's vector stores are aligned and can stream.
    Value* aligned = b_.CreateAnd(b_.CreateAdd(begin, b_.getInt64(15)), b_.getInt64(~int64_t{15}));
    emit_nest(begin, b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, aligned, end), false);
    b_.CreateAssumption(b_.CreateICmpEQ(b_.CreateAnd(aligned, b_.getInt64(15)), b_.getInt64(0)));
    // A vector iteration of 8 floats (AVX2) writes half a cache line: two per iteration write
    // whole lines, which then stream (streaming_stores.h).
    emit_nest(aligned, end, false, std::max<int64_t>(1, 64 / target_.vector_bytes));
  } else {
    emit_nest(begin, end, tiled);
  }
  b_.CreateRetVoid();
}

} // namespace kiln::cpu::detail
