// Reduction stages of a kernel: accumulators carried through loop phis, and tiled reductions
// (register-blocked row x column tiles, the matmul micro-kernel).
#include "codegen/cpu/emitter.h"

#include <limits>

namespace kiln::cpu::detail {

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

std::vector<bool> Emitter::summed_products() const {
  std::vector<int> readers(k_.insts.size(), 0);
  for (const KInst& in : k_.insts)
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) ++readers[s];
  for (const KStore& st : k_.stores) ++readers[st.value];
  std::vector<bool> out(k_.insts.size(), false);
  for (const KInst& in : k_.insts) {
    if (in.op != Op::Sum || !is_float(in.dtype)) continue;
    const KInst& x = k_.insts[in.a];
    if (x.op == Op::Mul && readers[in.a] == 1) out[in.a] = true;
  }
  return out;
}

Value* Emitter::accumulate(const KInst& in, Value* acc, Value* x) {
  DType t = k_.insts[in.a].dtype;
  bool fp = is_float(t);
  Value* r = nullptr;
  switch (in.op) {
  case Op::Sum:
    r = fp                 ? contract(b_.CreateFAdd(acc, x))
        : t == DType::Bool ? b_.CreateOr(acc, x)
                           : b_.CreateAdd(acc, x);
    break;
  case Op::Prod:
    r = fp ? b_.CreateFMul(acc, x) : t == DType::Bool ? b_.CreateAnd(acc, x) : b_.CreateMul(acc, x);
    break;
  case Op::Max:
    return binary(KInst{Op::Maximum, t}, t, acc, x);
  default:
    return binary(KInst{Op::Minimum, t}, t, acc, x);
  }
  if (fp)
    llvm::cast<llvm::Instruction>(r)->setHasAllowReassoc(true); // reorder (vectorize) the reduction
  return r;
}

// Emits, in order, the instructions placed inside stage `loop` (-1: outside all stages) that
// need results of exactly stage `after` (any when after < -1), skipping reductions.

std::vector<size_t> Emitter::reductions(int stage) const {
  std::vector<size_t> r;
  for (size_t i = 0; i < k_.insts.size(); ++i)
    if (is_reduce(k_.insts[i].op) && k_.insts[i].stage == stage) r.push_back(i);
  return r;
}

// Tiled reductions: when inputs are contiguous along the innermost OUTPUT axis but not along
// the reduce axis (matmul's B, column sums), the reduce loop runs outside a loop over a tile of
// outputs, accumulating into a small stack array, so the innermost loop vectorizes over outputs.
bool Emitter::use_tiled_reduction() const {
  if (k_.stages.size() != 1 || k_.domain.empty() || k_.symbolic() || k_.domain.back().value() < 16)
    return false;
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

namespace {

// A short row of constant length, whole vectors long (a sum over the rows of a [N, 24] tensor),
// keeps its reduce loop, with as many interleaved vectors as divide it (up to 4), so the loop
// vectorizer reads it as vectors along the row with no remainder. Left to -O3, LLVM unrolls it
// whole and vectorizes across rows instead, a gather per lane: single-threaded f32 row sums of
// 64 MiB on Zen 3 (AVX2) took 15-45% longer at rows of 8, 24, 40 and 48, as long at 16 and 32.
// A row with a remainder (12) ran 2.7x slower this way, and longer rows (64) gain nothing. 0:
// not such a row.
int64_t short_row_interleave(const SymInt& extent, int64_t bytes, int64_t vector_bytes) {
  if (extent.symbolic()) return 0;
  int64_t row = extent.value() * bytes;
  if (row > 192 || row % vector_bytes != 0) return 0;
  int64_t vectors = row / vector_bytes, interleave = std::min<int64_t>(vectors, 4);
  while (vectors % interleave != 0) --interleave;
  return interleave;
}

} // namespace

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
    auto* iv = open_loop(b_.getInt64(0), extent(k_.stages[stage][d]), "r");
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
  for (const StageReuse& r : reuse_)
    if (r.stage == stage) b_.CreateStore(vals_[r.inst], reuse_slot(r));
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
  int64_t bytes = 1; // of the widest value reduced
  for (auto& a : accs)
    bytes = std::max<int64_t>(bytes, dtype_size(k_.insts[k_.insts[a.inst].a].dtype));
  // Close reduce loops innermost first; after loop d exits, its header phis hold the result.
  for (int d = static_cast<int>(rloops.size()) - 1; d >= 0; --d) {
    llvm::BasicBlock* last = b_.GetInsertBlock();
    for (size_t j = 0; j < phis[d].size(); ++j) phis[d][j]->addIncoming(next[j], last);
    llvm::BranchInst* latch = close_loop(rloops[d]);
    bool innermost = d + 1 == static_cast<int>(rloops.size());
    if (int64_t n =
            innermost ? short_row_interleave(k_.stages[stage][d], bytes, target_.vector_bytes) : 0)
      keep_loop_rolled(latch, n);
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

void Emitter::prefetch_next_row() {
  if (k_.domain.empty() || k_.stages.size() < 2 || k_.stages[0].size() != 1) return;
  int64_t row_axis = static_cast<int64_t>(k_.domain.size()) - 1;
  for (size_t i = 0; i < k_.insts.size(); ++i) {
    const KInst& in = k_.insts[i];
    if (in.op != Op::Load || place_[i].loop != 0) continue;
    auto along_stage = stride(in.a, Op::ReduceIndex, 0),
         along_rows = stride(in.a, Op::LoopIndex, row_axis);
    if (along_stage != std::optional<int64_t>(1) || !along_rows || *along_rows == 0) continue;
    int64_t per_line = std::max<int64_t>(1, 64 / static_cast<int64_t>(dtype_size(in.dtype)));
    auto* r = open_loop(b_.getInt64(0), extent(k_.stages[0][0]), "prefetch", per_line);
    reduce_idx_.assign(1, r);
    emit_placed(0, -2); // the load's index at this position (the rest of stage 0 is dead code)
    Value* next_row = b_.CreateAdd(vals_[in.a], b_.getInt64(*along_rows));
    // Not inbounds: past the last row this points outside the buffer, which a prefetch allows.
    Value* p = b_.CreateGEP(mem_type(in.dtype), args_[in.imm], {next_row});
    b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {p->getType()},
                       {p, b_.getInt32(0), b_.getInt32(2), b_.getInt32(1)}); // read, into L2, data
    close_loop(r);
  }
}

void Emitter::plan_stage_reuse() {
  reuse_ = find_stage_reuse(k_);
  reused_from_.assign(k_.insts.size(), -1);
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  for (size_t r = 0; r < reuse_.size(); ++r) {
    for (int i : reuse_[r].replaces) reused_from_[i] = static_cast<int>(r);
    auto* ty = llvm::ArrayType::get(mem_type(k_.insts[reuse_[r].inst].dtype),
                                    numel(k_.stages[reuse_[r].stage]));
    auto* buf = entry.CreateAlloca(ty);
    buf->setAlignment(llvm::Align(64));
    reuse_buf_.push_back(buf);
  }
}

Value* Emitter::reuse_slot(const StageReuse& r) {
  // Stages sharing a value have equal extents, so the current loop indices address it.
  Value* linear = b_.getInt64(0);
  for (size_t d = 0; d < reduce_idx_.size(); ++d)
    linear = b_.CreateAdd(b_.CreateMul(linear, b_.getInt64(k_.stages[r.stage][d].value())),
                          reduce_idx_[d]);
  llvm::AllocaInst* buf = reuse_buf_[&r - reuse_.data()];
  return b_.CreateInBoundsGEP(buf->getAllocatedType(), buf, {b_.getInt64(0), linear});
}

void Emitter::emit_tiled_reduction(Value* lo, Value* hi, Value* row_lo, Value* row_hi) {
  // Full tiles run with a constant trip count, so LLVM unrolls the vectorized tile loop and
  // promotes the accumulators to registers; the last partial tile runs with a variable count.
  const int64_t tile = 64, block = 4;
  auto multiple_end = [&](Value* from, Value* to, int64_t step) {
    return b_.CreateAdd(from, b_.CreateMul(b_.CreateSDiv(b_.CreateSub(to, from), b_.getInt64(step)),
                                           b_.getInt64(step)));
  };
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  int64_t rows = row_lo ? block : 1;
  std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>> accs(rows); // per row of a block
  for (auto& row_accs : accs)
    for (size_t r : reductions(0)) {
      auto* ty = llvm::ArrayType::get(reg_type(k_.insts[r].dtype), tile);
      row_accs.push_back({r, entry.CreateAlloca(ty)});
    }
  // Each tile of columns runs over all of this thread's rows, 4 at a time sharing each load of
  // what does not depend on the row (matmul's B): a column panel of B is read from memory once
  // per thread's range of rows, and then from cache, instead of all of B once per 4 rows.
  // Without rows (column sums), a float sum whose innermost reduce loop is long adds its values in
  // chunks of kSumChunk, each chunk's partial sum into an f64 total (as passes/blocked_sums.h adds
  // block sums): a serial f32 column sum of 4096 values was 50x less accurate than the
  // interpreter's. Products (rows) keep one accumulator: their K loop is the GEMM's.
  std::vector<llvm::AllocaInst*> totals;
  if (!row_lo && k_.stages[0].back().value() > kSumChunk)
    for (size_t r : reductions(0)) {
      bool float_sum = k_.insts[r].op == Op::Sum && is_float(k_.insts[r].dtype);
      auto* ty = llvm::ArrayType::get(reg_type(DType::F64), tile);
      totals.push_back(float_sum ? entry.CreateAlloca(ty) : nullptr);
    }
  auto all_rows = [&](Value* j0, Value* count) {
    if (!row_lo) return emit_tile(accs, j0, count, nullptr, totals);
    Value* full = multiple_end(row_lo, row_hi, block);
    auto* m = open_loop(row_lo, full, "m", block);
    emit_tile(accs, j0, count, m);
    close_loop(m);
    auto* rest = open_loop(full, row_hi, "m");
    emit_tile({accs[0]}, j0, count, rest);
    close_loop(rest);
  };
  Value* full_end = multiple_end(lo, hi, tile);
  auto* j0 = open_loop(lo, full_end, "j0", tile);
  all_rows(j0, b_.getInt64(tile));
  close_loop(j0);
  auto* last = open_loop(full_end, hi, "j0", tile); // runs at most once
  all_rows(last, b_.CreateSub(hi, last));
  close_loop(last);
}

void Emitter::emit_tile(const std::vector<std::vector<std::pair<size_t, llvm::AllocaInst*>>>& accs,
                        Value* j0, Value* count, Value* row,
                        const std::vector<llvm::AllocaInst*>& totals) {
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
  for (size_t i = 0; i < totals.size(); ++i)
    if (totals[i]) b_.CreateStore(constant(DType::F64, 0, 0), slot(totals[i], jj));
  close_loop(jj);
  // Adds the partial sums of one chunk into the totals and restarts them.
  auto flush = [&] {
    auto* f = open_loop(b_.getInt64(0), count, "jj");
    for (size_t i = 0; i < totals.size(); ++i) {
      if (!totals[i]) continue;
      auto [r, a] = accs[0][i];
      llvm::Type* f64 = reg_type(DType::F64);
      Value *p = slot(a, f), *t = slot(totals[i], f);
      Value* partial = b_.CreateFPExt(b_.CreateLoad(reg_type(k_.insts[r].dtype), p), f64);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f64, t), partial), t);
      b_.CreateStore(reduce_init(k_.insts[r]), p);
    }
    close_loop(f);
  };

  std::vector<llvm::PHINode*> rloops;
  llvm::PHINode* chunk = nullptr;
  reduce_idx_.clear();
  std::vector<int64_t> extents = concrete(k_.stages[0]);
  for (size_t d = 0; d < extents.size(); ++d) {
    Value* extent = b_.getInt64(extents[d]);
    if (!totals.empty() && d + 1 == extents.size()) {
      chunk = open_loop(b_.getInt64(0), extent, "rc", kSumChunk);
      Value* chunk_end = b_.CreateAdd(chunk, b_.getInt64(kSumChunk));
      Value* end = b_.CreateSelect(b_.CreateICmpSLT(chunk_end, extent), chunk_end, extent);
      rloops.push_back(open_loop(chunk, end, "r"));
    } else {
      rloops.push_back(open_loop(b_.getInt64(0), extent, "r"));
    }
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
  for (int d = static_cast<int>(rloops.size()) - 1; d >= 0; --d) {
    close_loop(rloops[d]);
    if (chunk && d + 1 == static_cast<int>(rloops.size())) {
      flush();
      close_loop(chunk);
    }
  }

  jj = open_loop(b_.getInt64(0), count, "jj");
  loop_idx_[last] = b_.CreateAdd(j0, jj);
  for (size_t u = 0; u < accs.size(); ++u) {
    set_row(u);
    emit_placed(-1, -1);
    for (size_t i = 0; i < accs[u].size(); ++i) {
      auto [r, a] = accs[u][i];
      llvm::Type* ty = reg_type(k_.insts[r].dtype);
      vals_[r] =
          i < totals.size() && totals[i]
              ? b_.CreateFPTrunc(b_.CreateLoad(reg_type(DType::F64), slot(totals[i], jj)), ty)
              : b_.CreateLoad(ty, slot(a, jj));
    }
    emit_placed(-1, 0);
    emit_stores(-1);
  }
  close_loop(jj);
}

} // namespace kiln::cpu::detail
