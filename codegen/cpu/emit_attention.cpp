// Flash-style attention (passes/attention_match.h): out = softmax(score(q @ k^T)) @ v, one call
// per range of the batch loop, the score matrix never written.
//
// Both products run on the packed GEMM's register microkernel (emit_gemm.cpp), transposed so
// that nothing is transposed in between: a block of NR query rows is the microkernel's B panel
// (its NR lanes), the keys its MR-tall A panels. The score tile of MR keys x NR queries then lands
// in exactly the layout the second product, O^T = V^T P^T, reads as its B panel (keys along its
// K), and every softmax step is a vector operation across the NR queries of one key:
//   per batch:        pack K (MR-key panels along D) and V^T (MR-column panels along L)
//   per NR queries:   pack Q^T (one panel along D); running max and sum per query
//     per key chunk:  S^T = K Q^T tile by tile; S^T = score(S^T) (scale, mask); new max;
//                     rescale the sums and O^T by exp(old max - new max); P^T = exp(S^T - max);
//                     O^T += V^T P^T
//     out = (O^T / sum)^T
// A chunk of keys (a multiple of MR) keeps S^T (chunk x NR) in half of L1: one chunk for short
// sequences, the online softmax over several for long ones. Padding keys (past L) are never
// read: the second product runs over the chunk's real keys only.
// In a symbolic kernel the batch, the query rows M and the keys L are read from the size
// parameter at launch (the threads' split of the batch too, codegen/host): the scratch for K and
// V^T is sized then, and a symbolic L takes chunks of the most keys that fit (a concrete one
// spreads them evenly over its chunks; the work is the same).
// Not yet done: K and V^T are packed one element at a time (12-18% of W6 on one thread; vector
// transposes as emit_pack's would pay), and threads split only the batch loop.
#include "codegen/cpu/emitter.h"

#include <algorithm>
#include <limits>

namespace kiln::cpu::detail {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

} // namespace

void Emitter::eval_attention(const std::vector<int>& insts) {
  for (int i : insts) {
    const KInst& in = k_.insts[i];
    vals_[i] =
        in.op == Op::ReduceIndex ? attention_index_[in.stage] : emit_inst(static_cast<size_t>(i));
  }
}

// x rounded up to a multiple of m (folded to a constant when x is one).
Value* Emitter::round_up_value(Value* x, int64_t m) {
  return b_.CreateMul(b_.CreateSDiv(b_.CreateAdd(x, b_.getInt64(m - 1)), b_.getInt64(m)),
                      b_.getInt64(m));
}

// dst[(p * len + x) * r + i] = operand(lane p * r + i, x) for x < len, i < r, over the panels
// that cover lanes_end lanes; 0 for lanes past it (read clamped). `bind` sets the kernel's
// indices for a lane and an x.
void Emitter::emit_attention_pack(int root, Value* lanes_end, int64_t r, Value* len, Value* dst,
                                  const std::function<void(Value*, Value*)>& bind) {
  std::vector<int> insts = operand_insts(root);
  llvm::Type* et = reg_type(k_.insts[root].dtype);
  llvm::Align align(dtype_size(k_.insts[root].dtype));
  Value* panels = b_.CreateSDiv(round_up_value(lanes_end, r), b_.getInt64(r));
  auto* p = open_loop(b_.getInt64(0), panels, "pp");
  auto* x = open_loop(b_.getInt64(0), len, "px");
  Value* row = b_.CreateMul(b_.CreateAdd(b_.CreateMul(p, len), x), b_.getInt64(r));
  Value* last = b_.CreateSub(lanes_end, b_.getInt64(1));
  for (int64_t i = 0; i < r; ++i) {
    Value* lane = b_.CreateAdd(b_.CreateMul(p, b_.getInt64(r)), b_.getInt64(i));
    bind(b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, lane, last), x);
    eval_attention(insts);
    Value* v = b_.CreateSelect(b_.CreateICmpSLT(lane, lanes_end), vals_[root],
                               llvm::ConstantFP::get(et, 0));
    b_.CreateAlignedStore(v, b_.CreateInBoundsGEP(et, dst, {b_.CreateAdd(row, b_.getInt64(i))}),
                          align);
  }
  close_loop(x, true);
  close_loop(p, true);
}

void Emitter::emit_attention(Value* begin, Value* end) {
  const AttentionKernel& a = *attention_;
  DType t = k_.insts[a.out].dtype;
  int64_t elt = dtype_size(t);
  auto i64 = [&](int64_t v) { return b_.getInt64(v); };
  AttentionBuffers buf;
  buf.bl = register_tile(t);
  buf.m = extent(a.M);
  buf.l = extent(a.L);
  int64_t mr = buf.bl.mr, nr = buf.bl.nr;
  int64_t most = std::max(mr, round_up(target_.l1d_bytes / 2 / (nr * elt), mr));
  buf.chunk = most;
  if (!a.L.symbolic()) {
    int64_t chunks = (a.L.value() + most - 1) / most;
    buf.chunk = round_up((a.L.value() + chunks - 1) / chunks, mr);
  }
  // Scratch, in elements: K panels, V^T panels, the Q^T panel, S^T, O^T, 5 rows of statistics;
  // the first two sized at launch when L is symbolic.
  std::vector<Value*> sizes = {b_.CreateMul(round_up_value(buf.l, mr), i64(a.D)),
                               b_.CreateMul(buf.l, i64(round_up(a.N, mr))),
                               i64(a.D * nr),
                               i64(buf.chunk * nr),
                               i64(round_up(a.N, mr) * nr),
                               i64(5 * nr)};
  Value* bytes = i64(0);
  std::vector<Value*> offsets;
  for (Value* s : sizes) {
    offsets.push_back(bytes);
    bytes = b_.CreateAdd(
        bytes, b_.CreateAnd(b_.CreateAdd(b_.CreateMul(s, i64(elt)), i64(63)), i64(~int64_t{63})));
  }
  auto* ptr = llvm::PointerType::getUnqual(ctx_);
  auto scratch = m_.getOrInsertFunction("kiln_gemm_scratch", ptr, b_.getInt64Ty());
  Value* base = b_.CreateCall(scratch, {bytes});
  std::vector<Value*> at;
  for (Value* o : offsets) at.push_back(b_.CreateInBoundsGEP(b_.getInt8Ty(), base, {o}));
  buf.k = at[0], buf.v = at[1], buf.q = at[2], buf.s = at[3], buf.o = at[4], buf.stats = at[5];
  buf.micro = emit_microkernel(buf.bl, t);

  attention_index_.assign(2, nullptr);
  auto* b = open_loop(begin, end, "batch");
  loop_idx_[0] = b;
  emit_attention_pack(a.k, buf.l, mr, i64(a.D), buf.k, [&](Value* j, Value* d) {
    attention_index_ = {d, j};
  });
  emit_attention_pack(a.value, i64(a.N), mr, buf.l, buf.v, [&](Value* n, Value* j) {
    loop_idx_[2] = n;
    attention_index_ = {nullptr, j};
  });
  auto* m0 = open_loop(i64(0), buf.m, "rows", nr);
  emit_attention_rows(buf, m0);
  close_loop(m0, true);
  close_loop(b, true);
}

// The NR query rows from m0: Q^T, the chunks of keys, the store.
void Emitter::emit_attention_rows(const AttentionBuffers& buf, Value* m0) {
  const AttentionKernel& a = *attention_;
  DType t = k_.insts[a.out].dtype;
  llvm::Type* et = reg_type(t);
  llvm::Align align(dtype_size(t));
  int64_t nr = buf.bl.nr;
  Value* last_row = b_.CreateSub(buf.m, b_.getInt64(1));
  emit_attention_pack(a.q, b_.getInt64(nr), nr, b_.getInt64(a.D), buf.q, [&](Value* c, Value* d) {
    loop_idx_[1] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b_.CreateAdd(m0, c), last_row);
    attention_index_ = {d, nullptr};
  });
  // Lanes past the last row were packed from row M - 1, so their (unused) scores stay finite.
  auto* c = open_loop(b_.getInt64(0), b_.getInt64(nr), "init");
  b_.CreateAlignedStore(llvm::ConstantFP::getInfinity(et, true), stat(buf, 0, c), align);
  b_.CreateAlignedStore(llvm::ConstantFP::get(et, 0), stat(buf, 1, c), align);
  close_loop(c);
  if (a.L.symbolic()) {
    // No keys (L = 0, which no lowering fuses but the kernel allows): no chunk writes O^T, and
    // out = 0 / 0 is NaN, as the interpreter's empty softmax_sum.
    auto* empty = llvm::BasicBlock::Create(ctx_, "no.keys", fn_);
    auto* keys = llvm::BasicBlock::Create(ctx_, "keys", fn_);
    b_.CreateCondBr(b_.CreateICmpSLE(buf.l, b_.getInt64(0)), empty, keys);
    b_.SetInsertPoint(empty);
    auto* o = open_loop(b_.getInt64(0), b_.getInt64(round_up(a.N, buf.bl.mr) * nr), "o0");
    b_.CreateAlignedStore(llvm::ConstantFP::get(et, 0), b_.CreateInBoundsGEP(et, buf.o, {o}),
                          align);
    close_loop(o);
    b_.CreateBr(keys);
    b_.SetInsertPoint(keys);
  }
  auto* j0 = open_loop(b_.getInt64(0), buf.l, "chunk", buf.chunk);
  emit_attention_chunk(buf, m0, j0);
  close_loop(j0, true);

  // out[m0 + c][n] = O^T[n][c] / sum[c], for the rows that exist.
  Value* rows =
      b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b_.CreateSub(buf.m, m0), b_.getInt64(nr));
  auto* cc = open_loop(b_.getInt64(0), rows, "oc");
  loop_idx_[1] = b_.CreateAdd(m0, cc);
  Value* inv = b_.CreateFDiv(llvm::ConstantFP::get(et, 1),
                             b_.CreateAlignedLoad(et, stat(buf, 1, cc), align));
  auto* n = open_loop(b_.getInt64(0), b_.getInt64(a.N), "on");
  loop_idx_[2] = n;
  Value* o = b_.CreateInBoundsGEP(et, buf.o, {b_.CreateAdd(b_.CreateMul(n, b_.getInt64(nr)), cc)});
  vals_[a.out] = b_.CreateFMul(b_.CreateAlignedLoad(et, o, align), inv);
  const KStore& st = k_.stores[0];
  eval_attention(operand_insts(st.index));
  b_.CreateAlignedStore(vals_[a.out], b_.CreateInBoundsGEP(et, args_[st.arg], {vals_[st.index]}),
                        align);
  close_loop(n);
  close_loop(cc, true);
}

Value* Emitter::stat(const AttentionBuffers& buf, int64_t row, Value* c) {
  llvm::Type* et = reg_type(k_.insts[attention_->out].dtype);
  return b_.CreateInBoundsGEP(et, buf.stats, {b_.CreateAdd(b_.getInt64(row * buf.bl.nr), c)});
}

Value* Emitter::attention_load(Value* p) {
  DType t = k_.insts[attention_->out].dtype;
  return b_.CreateAlignedLoad(reg_type(t), p, llvm::Align(dtype_size(t)));
}

void Emitter::attention_store(Value* v, Value* p) {
  b_.CreateAlignedStore(v, p, llvm::Align(dtype_size(k_.insts[attention_->out].dtype)));
}

// S^T of the keys [j0, j0 + keys) for the NR queries from m0, through the scores' function of
// the dot product; the chunk's max per query in statistics row 2. Returns how many of its keys
// matter: keys after the last one any of the queries sees (a causal mask's upper triangle) add
// nothing, so the exponentials and the second product stop there.
Value* Emitter::emit_attention_scores(const AttentionBuffers& buf, Value* m0, Value* j0,
                                      Value* keys) {
  const AttentionKernel& a = *attention_;
  llvm::Type* et = reg_type(k_.insts[a.out].dtype);
  int64_t nr = buf.bl.nr;
  auto i64 = [&](int64_t v) { return b_.getInt64(v); };
  auto* jp = open_loop(i64(0), keys, "sp", buf.bl.mr); // MR keys per tile
  Value* panel = b_.CreateInBoundsGEP(
      et, buf.k, {b_.CreateMul(b_.CreateAdd(j0, jp), i64(a.D))}); // (j / MR) * D * MR
  b_.CreateCall(buf.micro,
                {panel, buf.q, i64(a.D),
                 b_.CreateInBoundsGEP(et, buf.s, {b_.CreateMul(jp, i64(nr))}), b_.getFalse()});
  close_loop(jp, true);

  auto* c = open_loop(i64(0), i64(nr), "mx0");
  attention_store(attention_load(stat(buf, 0, c)), stat(buf, 2, c));
  attention_store(llvm::ConstantFP::get(et, 0), stat(buf, 4, c));
  close_loop(c);
  std::vector<int> score = operand_insts(a.score, a.dot);
  // clamp: the block may pass the last query row (whose index the lanes past it then read).
  auto score_keys = [&](bool clamp) {
    auto* jj = open_loop(i64(0), keys, "sj");
    attention_index_ = {nullptr, b_.CreateAdd(j0, jj)};
    auto* c = open_loop(i64(0), i64(nr), "sc");
    loop_idx_[1] = b_.CreateAdd(m0, c);
    if (clamp)
      loop_idx_[1] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, loop_idx_[1],
                                              b_.CreateSub(buf.m, i64(1)));
    Value* s = b_.CreateInBoundsGEP(et, buf.s, {b_.CreateAdd(b_.CreateMul(jj, i64(nr)), c)});
    vals_[a.dot] = attention_load(s);
    eval_attention(score);
    Value* sc = vals_[a.score];
    attention_store(sc, s);
    Value* mx = attention_load(stat(buf, 2, c));
    attention_store(nan_propagating(sc, mx, b_.CreateFCmpOGT(sc, mx)), stat(buf, 2, c));
    // Row 4: one past the last key each query sees.
    Value* seen = b_.CreateSIToFP(b_.CreateAdd(jj, i64(1)), et);
    Value* masked = b_.CreateFCmpOEQ(sc, llvm::ConstantFP::getInfinity(et, true));
    attention_store(b_.CreateSelect(masked, attention_load(stat(buf, 4, c)), seen),
                    stat(buf, 4, c));
    close_loop(c);
    close_loop(jj, true);
  };
  // A score that reads the query's row (a causal mask's row index) reads a whole block's rows
  // as one vector when they need no clamping: blocks before the last take that loop (a causal
  // [1, 4, 256, 32] ran 17% slower with every block clamped, as any M not a multiple of NR did).
  bool reads_row = std::any_of(score.begin(), score.end(), [&](int i) {
    return k_.insts[i].op == Op::LoopIndex && k_.insts[i].imm == 1;
  });
  bool whole_blocks = !a.M.symbolic() && a.M.value() % nr == 0;
  if (!reads_row || whole_blocks) {
    score_keys(!whole_blocks);
  } else {
    auto* whole = llvm::BasicBlock::Create(ctx_, "block.whole", fn_);
    auto* last = llvm::BasicBlock::Create(ctx_, "block.last", fn_);
    auto* scored = llvm::BasicBlock::Create(ctx_, "block.scored", fn_);
    b_.CreateCondBr(b_.CreateICmpSLE(b_.CreateAdd(m0, i64(nr)), buf.m), whole, last);
    b_.SetInsertPoint(whole);
    score_keys(false);
    b_.CreateBr(scored);
    b_.SetInsertPoint(last);
    score_keys(true);
    b_.CreateBr(scored);
    b_.SetInsertPoint(scored);
  }
  Value* live = attention_load(stat(buf, 4, i64(0)));
  for (int64_t q = 1; q < nr; ++q)
    live = b_.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, live,
                                    attention_load(stat(buf, 4, i64(q))));
  return b_.CreateFPToSI(live, b_.getInt64Ty());
}

// One chunk of keys [j0, j0 + chunk) for the NR queries from m0 (statistics rows: 0 running max,
// 1 running sum, 2 the max the chunk's exponentials subtract, 3 the rescaling factor, 4 one past
// the last key of the chunk a query sees).
void Emitter::emit_attention_chunk(const AttentionBuffers& buf, Value* m0, Value* j0) {
  const AttentionKernel& a = *attention_;
  DType t = k_.insts[a.out].dtype;
  llvm::Type* et = reg_type(t);
  int64_t mr = buf.bl.mr, nr = buf.bl.nr;
  auto i64 = [&](int64_t v) { return b_.getInt64(v); };
  auto load = [&](Value* p) { return attention_load(p); };
  auto store = [&](Value* v, Value* p) { attention_store(v, p); };
  auto exp = [&](Value* x) { return unary(KInst{Op::Exp, t}, t, x); };
  Value* keys =
      b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, i64(buf.chunk), b_.CreateSub(buf.l, j0));
  Value* first = b_.CreateICmpEQ(j0, i64(0));
  Value* inf = llvm::ConstantFP::getInfinity(et, true);
  Value* live = emit_attention_scores(buf, m0, j0, keys);

  // New max; the old sums scale by exp(old - new). A query whose keys so far are all masked
  // (max -inf) subtracts 0 instead, so that exp gives 0, not NaN.
  auto* c = open_loop(i64(0), i64(nr), "mx1");
  Value* now = load(stat(buf, 2, c));
  Value* shift = b_.CreateSelect(b_.CreateFCmpOEQ(now, inf), llvm::ConstantFP::get(et, 0), now);
  Value* alpha = exp(b_.CreateFSub(load(stat(buf, 0, c)), shift));
  store(b_.CreateFMul(load(stat(buf, 1, c)), alpha), stat(buf, 1, c));
  store(now, stat(buf, 0, c));
  store(shift, stat(buf, 2, c));
  store(alpha, stat(buf, 3, c));
  close_loop(c);
  auto* rescale = llvm::BasicBlock::Create(ctx_, "rescale", fn_);
  auto* scaled = llvm::BasicBlock::Create(ctx_, "scaled", fn_);
  b_.CreateCondBr(first, scaled, rescale);
  b_.SetInsertPoint(rescale);
  auto* on = open_loop(i64(0), i64(round_up(a.N, mr) * nr), "rs");
  Value* o = b_.CreateInBoundsGEP(et, buf.o, {on});
  store(b_.CreateFMul(load(o), load(stat(buf, 3, b_.CreateURem(on, i64(nr))))), o);
  close_loop(on);
  b_.CreateBr(scaled);
  b_.SetInsertPoint(scaled);

  // P^T = exp(S^T - max), summed per query.
  auto* jj = open_loop(i64(0), live, "ej");
  c = open_loop(i64(0), i64(nr), "ec");
  Value* s = b_.CreateInBoundsGEP(et, buf.s, {b_.CreateAdd(b_.CreateMul(jj, i64(nr)), c)});
  Value* e = exp(b_.CreateFSub(load(s), load(stat(buf, 2, c))));
  store(e, s);
  store(b_.CreateFAdd(load(stat(buf, 1, c)), e), stat(buf, 1, c));
  close_loop(c);
  close_loop(jj, true);

  // O^T (+)= V^T P^T over the chunk's keys, MR output columns per tile.
  auto* np = open_loop(i64(0), i64(round_up(a.N, mr)), "op", mr);
  Value* vpanel = b_.CreateInBoundsGEP(
      et, buf.v, {b_.CreateAdd(b_.CreateMul(np, buf.l), b_.CreateMul(j0, i64(mr)))});
  b_.CreateCall(buf.micro,
                {vpanel, buf.s, live, b_.CreateInBoundsGEP(et, buf.o, {b_.CreateMul(np, i64(nr))}),
                 b_.CreateNot(first)});
  close_loop(np, true);
}

} // namespace kiln::cpu::detail
