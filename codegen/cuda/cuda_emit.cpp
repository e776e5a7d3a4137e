#include "codegen/cuda/cuda_emit.h"

#include "codegen/cuda/cuda_prelude.h"
#include "codegen/cuda/cuda_scalar.h"
#include "codegen/cuda/cuda_writer.h"
#include "ir/error.h"

#include <algorithm>

namespace kiln::cuda {

std::string_view strategy_name(Strategy s) {
  switch (s) {
  case Strategy::Pointwise:
    return "pointwise";
  case Strategy::Row:
    return "row";
  case Strategy::WarpRow:
    return "warp_row";
  case Strategy::Serial:
    return "serial";
  case Strategy::TiledMatmul:
    return "tiled_matmul";
  case Strategy::Attention:
    break;
  }
  return "attention";
}

namespace detail {
namespace {

std::string identifier(const std::string& name) {
  std::string s = name.empty() ? "kernel" : name;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (std::isdigit(static_cast<unsigned char>(s[0]))) s = "k_" + s;
  return s;
}

// Warps (rows) a block of the WarpRow strategy takes: 256 threads, as the other strategies.
constexpr int kRowWarpsPerBlock = 8;

unsigned grid_for(int64_t items, int64_t per_block, int64_t cap) {
  return static_cast<unsigned>(std::clamp<int64_t>((items + per_block - 1) / per_block, 1, cap));
}

} // namespace

std::string index_type(int64_t max_value) {
  return max_value < (int64_t{1} << 30) ? "int" : "long long";
}

Writer::Writer(const Kernel& k)
    : k_(k), place_(k.placements()), narrow_(narrow_indices(k)), summed_(summed_products(k)) {
  if (std::string err = verify_kernel(k); !err.empty())
    fail("cuda", "kernel {} is not well formed: {}", k.name, err);
  if (k.symbolic())
    fail("cuda", "kernel {} has symbolic sizes: CUDA code generation needs concrete ones yet",
         k.name);
  // softmax_sum exists for attention only (ir/kernel.h); anything else holding one is a bug.
  attention_ = match_attention_kernel(k);
  for (const KInst& in : k.insts)
    if (in.op == Op::SoftmaxSum && !attention_)
      fail("cuda", "kernel {}: a softmax_sum outside the attention pattern has no CUDA lowering",
           k.name);
  for (size_t d = 0; d < k.domain.size(); ++d) loop_var_.push_back(fmt::format("i{}", d));
  for (size_t s = 0; s < k.stages.size(); ++s) {
    rvar_.emplace_back();
    for (size_t a = 0; a < k.stages[s].size(); ++a) rvar_[s].push_back(fmt::format("r{}_{}", s, a));
  }
}

std::string Writer::type_of(int i) const { return narrow_[i] ? "int" : c_type(k_.insts[i].dtype); }

std::string Writer::operand(int user, int i) const {
  // Overloaded helpers need one integer type: a narrow index meeting a 64-bit value widens.
  if (narrow_[i] && !narrow_[user] && k_.insts[user].op != Op::Load)
    return fmt::format("(long long){}", var(i));
  return var(i);
}

void Writer::emit_inst(int i) {
  const KInst& in = k_.insts[i];
  std::string rhs;
  switch (in.op) {
  case Op::LoopIndex:
    rhs = loop_var_.at(in.imm);
    break;
  case Op::ReduceIndex:
    rhs = rvar_.at(in.stage).at(in.imm);
    break;
  case Op::Param:
    rhs = in.dtype == DType::Bool ? fmt::format("(p{} != 0)", in.imm) : fmt::format("p{}", in.imm);
    break;
  case Op::Load: {
    rhs = fmt::format("a{}[{}]", in.imm, var(in.a));
    if (in.dtype == DType::Bool) rhs = fmt::format("({} != 0)", rhs);
    if (in.b >= 0) // a padded view: read only inside the input, 0 elsewhere
      rhs = fmt::format("({} ? {} : {})", var(in.b), rhs, literal(in.dtype, Scalar{}));
    break;
  }
  default: {
    std::vector<std::string> ops;
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) ops.push_back(operand(i, s));
    // 32-bit index math cannot overflow (narrow_indices proved its range): plain int ops.
    bool plain = narrow_[i] && (in.op == Op::Add || in.op == Op::Sub || in.op == Op::Mul);
    char sym = in.op == Op::Add ? '+' : in.op == Op::Sub ? '-' : '*';
    rhs = plain ? fmt::format("({} {} {})", ops[0], sym, ops[1]) : scalar_expr(k_, i, ops);
  }
  }
  line("const {} {} = {};", type_of(i), var(i), rhs);
}

std::vector<bool> Writer::needed(const std::vector<int>& roots,
                                 const std::vector<bool>& have) const {
  std::vector<bool> need(k_.insts.size(), false);
  auto had = [&](int i) { return !have.empty() && have[i]; };
  for (int r : roots) need[r] = !had(r);
  for (int i = static_cast<int>(k_.insts.size()) - 1; i >= 0; --i)
    if (need[i])
      for (int s : {k_.insts[i].a, k_.insts[i].b, k_.insts[i].c})
        if (s >= 0 && !had(s)) need[s] = true;
  return need;
}

void Writer::emit_needed(const std::vector<int>& roots, const std::vector<bool>& have) {
  std::vector<bool> need = needed(roots, have);
  for (size_t i = 0; i < need.size(); ++i)
    if (need[i]) emit_inst(static_cast<int>(i));
}

void Writer::emit_placed(int loop, int after) {
  for (size_t i = 0; i < k_.insts.size(); ++i)
    if (place_[i].loop == loop && (after < -1 || place_[i].after == after) &&
        !is_reduce(k_.insts[i].op))
      emit_inst(static_cast<int>(i));
}

void Writer::emit_stores(int loop) {
  for (const KStore& st : k_.stores) {
    if (k_.store_placement(st, place_).loop != loop) continue;
    bool byte = k_.args[st.arg].dtype == DType::Bool;
    line("a{}[{}] = {}{};", st.arg, var(st.index), byte ? "(unsigned char)" : "", var(st.value));
  }
}

void Writer::decompose(const std::string& linear, const std::vector<int64_t>& dims,
                       const std::string& prefix, const std::string& type) {
  int64_t stride = 1;
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
    std::string e = stride == 1 ? linear : fmt::format("{} / {}", linear, stride);
    if (d > 0) e = fmt::format("({}) % {}", e, dims[d]);
    line("const {} {}{} = ({})({});", type, prefix, d, type, e);
    stride *= dims[d];
  }
}

void Writer::signature(unsigned threads) {
  std::vector<std::string> ps;
  for (size_t a = 0; a < k_.args.size(); ++a) {
    const KArg& arg = k_.args[a];
    // Inputs are read-only for the whole launch: __restrict__ lets loads use the read-only path.
    ps.push_back(arg.output ? fmt::format("{}* a{}", mem_type(arg.dtype), a)
                            : fmt::format("const {}* __restrict__ a{}", mem_type(arg.dtype), a));
    plan_.args.push_back({false, static_cast<int>(a), arg.dtype, arg.output});
  }
  for (size_t p = 0; p < k_.params.size(); ++p) {
    ps.push_back(fmt::format("{} p{}", mem_type(k_.params[p]), p));
    plan_.args.push_back({true, static_cast<int>(p), k_.params[p], false});
  }
  line("extern \"C\" __global__ void __launch_bounds__({}) {}({})", threads, plan_.entry,
       fmt::join(ps, ", "));
}

void Writer::reduction_functors(int stage) {
  for (size_t r = 0; r < k_.insts.size(); ++r) {
    const KInst& in = k_.insts[r];
    if (!is_reduce(in.op) || in.stage != stage) continue;
    std::string t = c_type(k_.insts[in.a].dtype);
    if (in.op == Op::ArgMax || in.op == Op::ArgMin) {
      line("struct kiln_op{} {{ __device__ KilnArg<{}> operator()(KilnArg<{}> a, KilnArg<{}> b) "
           "const "
           "{{ return kiln_arg_pick<{}>(a, b); }} }};",
           r, t, t, t, in.op == Op::ArgMax);
    } else {
      line("struct kiln_op{} {{ __device__ {} operator()({} acc, {} x) const {{ return {}; }} }};",
           r, t, t, t, reduce_step(in.op, k_.insts[in.a].dtype, "acc", "x"));
    }
  }
}

void Writer::accumulate(int r) {
  const KInst& in = k_.insts[r];
  DType t = k_.insts[in.a].dtype;
  std::string acc = fmt::format("acc{}", r);
  if (in.op == Op::ArgMax || in.op == Op::ArgMin) {
    line("{} = kiln_arg_pick<{}>({}, KilnArg<{}>{{{}, (long long){}}});", acc, in.op == Op::ArgMax,
         acc, c_type(t), var(in.a), var(in.b));
  } else if (in.op == Op::Sum && summed_[in.a]) {
    // One rounding for the product and the sum, as the CPU backend contracts them.
    const KInst& m = k_.insts[in.a];
    line("{} = {}({}, {}, {});", acc, t == DType::F32 ? "fmaf" : "fma", var(m.a), var(m.b), acc);
  } else {
    line("{} = {};", acc, reduce_step(in.op, t, acc, operand(r, in.a)));
  }
}

void Writer::body_serial() {
  int64_t n = k_.domain_size();
  std::string it = index_type(n);
  open(fmt::format("for ({0} o = ({0})blockIdx.x * blockDim.x + threadIdx.x; o < {1}; o += "
                   "({0})gridDim.x * blockDim.x)",
                   it, n));
  decompose("o", concrete(k_.domain), "i", index_type(n));
  emit_placed(-1, -1);
  for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) {
    std::vector<int> reds;
    for (size_t r = 0; r < k_.insts.size(); ++r)
      if (is_reduce(k_.insts[r].op) && k_.insts[r].stage == s) reds.push_back(static_cast<int>(r));
    for (int r : reds) {
      const KInst& in = k_.insts[r];
      DType t = k_.insts[in.a].dtype;
      if (in.op == Op::ArgMax || in.op == Op::ArgMin)
        line("KilnArg<{}> acc{} = {{{}, KILN_NO_INDEX}};", c_type(t), r, reduce_identity(in.op, t));
      else
        line("{} acc{} = {};", c_type(t), r, reduce_identity(in.op, t));
    }
    for (size_t a = 0; a < k_.stages[s].size(); ++a)
      open(fmt::format("for ({0} {1} = 0; {1} < {2}; ++{1})", index_type(k_.stages[s][a].value()),
                       rvar_[s][a], k_.stages[s][a].value()));
    emit_placed(s, -2);
    emit_stores(s);
    for (int r : reds) accumulate(r);
    for (size_t a = 0; a < k_.stages[s].size(); ++a) close();
    for (int r : reds) {
      const KInst& in = k_.insts[r];
      if (in.op == Op::ArgMax || in.op == Op::ArgMin)
        line("const long long {} = acc{}.i == KILN_NO_INDEX ? 0LL : acc{}.i;", var(r), r, r);
      else
        line("const {} {} = acc{};", c_type(in.dtype), var(r), r);
    }
    emit_placed(-1, s);
  }
  emit_stores(-1);
  close();
}

void Writer::body_row(bool warp) {
  int64_t n = k_.domain_size();
  std::string it = index_type(n);
  for (size_t r = 0; r < k_.insts.size() && !warp; ++r) {
    const KInst& in = k_.insts[r];
    if (!is_reduce(in.op)) continue;
    std::string t = c_type(k_.insts[in.a].dtype);
    bool arg = in.op == Op::ArgMax || in.op == Op::ArgMin;
    line("__shared__ {} kiln_slots{}[32];", arg ? fmt::format("KilnArg<{}>", t) : t, r);
  }
  if (warp) {
    line("const int lane = threadIdx.x & 31;");
    open(fmt::format("for ({0} o = ({0})blockIdx.x * {1} + (threadIdx.x >> 5); o < {2}; o += "
                     "({0})gridDim.x * {1})",
                     it, kRowWarpsPerBlock, n));
  } else {
    open(fmt::format("for ({0} o = blockIdx.x; o < {1}; o += gridDim.x)", it, n));
  }
  decompose("o", concrete(k_.domain), "i", it);
  emit_placed(-1, -1);
  for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) {
    std::vector<int> reds;
    for (size_t r = 0; r < k_.insts.size(); ++r)
      if (is_reduce(k_.insts[r].op) && k_.insts[r].stage == s) reds.push_back(static_cast<int>(r));
    auto identity = [&](int r) {
      const KInst& in = k_.insts[r];
      DType t = k_.insts[in.a].dtype;
      if (in.op == Op::ArgMax || in.op == Op::ArgMin)
        return fmt::format("KilnArg<{}>{{{}, KILN_NO_INDEX}}", c_type(t),
                           reduce_identity(in.op, t));
      return reduce_identity(in.op, t);
    };
    for (int r : reds) line("auto acc{} = {};", r, identity(r));
    int64_t extent = numel(k_.stages[s]);
    std::string rt = index_type(extent);
    if (warp) { // a constant trip count: unrolled, so later stages find the loads in registers
      line("#pragma unroll");
      open(fmt::format("for (int rj = 0; rj < {}; ++rj)", (extent + 31) / 32));
      line("const int rl = rj * 32 + lane;");
      if (extent % 32) open(fmt::format("if (rl < {})", extent));
    } else {
      open(fmt::format("for ({0} rl = threadIdx.x; rl < {1}; rl += blockDim.x)", rt, extent));
    }
    decompose("rl", concrete(k_.stages[s]), fmt::format("r{}_", s), rt);
    emit_placed(s, -2);
    emit_stores(s);
    for (int r : reds) accumulate(r);
    if (warp && extent % 32) close();
    close();
    for (int r : reds) {
      const KInst& in = k_.insts[r];
      std::string red = warp ? fmt::format("kiln_warp_reduce(acc{0}, kiln_op{0}())", r)
                             : fmt::format("kiln_block_reduce(acc{0}, {1}, kiln_slots{0}, "
                                           "kiln_op{0}())",
                                           r, identity(r));
      if (in.op == Op::ArgMax || in.op == Op::ArgMin) {
        line("const auto t{} = {};", r, red);
        line("const long long {} = t{}.i == KILN_NO_INDEX ? 0LL : t{}.i;", var(r), r, r);
      } else {
        line("const {} {} = {};", c_type(in.dtype), var(r), red);
      }
    }
    emit_placed(-1, s);
  }
  bool any = std::any_of(k_.stores.begin(), k_.stores.end(),
                         [&](const KStore& st) { return k_.store_placement(st, place_).loop < 0; });
  if (any) {
    open(warp ? "if (lane == 0)" : "if (threadIdx.x == 0)");
    emit_stores(-1);
    close();
  }
  close();
}

CudaKernel Writer::run() {
  plan_.entry = identifier(k_.name);
  plan_.strategy = choose_strategy(k_, place_);
  out_ = std::string(cuda_prelude());
  line("");
  int64_t n = k_.domain_size();
  unsigned threads = 256;
  std::optional<MatmulSplit> mm;
  switch (plan_.strategy) {
  case Strategy::Pointwise:
  case Strategy::Serial:
    threads = static_cast<unsigned>(std::clamp<int64_t>((n + 31) / 32 * 32, 32, 256));
    plan_.grid[0] = grid_for(n, threads, int64_t{1} << 16);
    break;
  case Strategy::Row: {
    int64_t longest = 1;
    for (auto& s : k_.stages) longest = std::max(longest, numel(s));
    threads = 32;
    while (threads < 256 && threads < longest) threads *= 2;
    plan_.grid[0] = grid_for(n, 1, int64_t{1} << 20);
    for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) reduction_functors(s);
    break;
  }
  case Strategy::WarpRow:
    threads = 32 * kRowWarpsPerBlock;
    plan_.grid[0] = grid_for(n, kRowWarpsPerBlock, int64_t{1} << 20);
    for (int s = 0; s < static_cast<int>(k_.stages.size()); ++s) reduction_functors(s);
    break;
  case Strategy::TiledMatmul: {
    mm = find_matmul(k_, place_);
    size_t nd = k_.domain.size();
    int64_t rows = k_.domain[nd - 2].value(), cols = k_.domain[nd - 1].value();
    plan_.grid[0] = grid_for(cols, 64, 1u << 31);
    plan_.grid[1] = grid_for(rows, 64, 65535);
    plan_.grid[2] = grid_for(n / (cols * rows), 1, 65535);
    break;
  }
  case Strategy::Attention:
    threads = kAttentionThreads;
    attention_functors(k_.insts[attention_->out].dtype);
    plan_.grid[0] = grid_for(attention_->B.value() * attention_->M.value(), 1, int64_t{1} << 20);
    break;
  }
  plan_.block[0] = threads;
  signature(threads);
  open("");
  if (mm)
    body_tiled(*mm);
  else if (attention_)
    body_attention(*attention_);
  else if (plan_.strategy == Strategy::Row || plan_.strategy == Strategy::WarpRow)
    body_row(plan_.strategy == Strategy::WarpRow);
  else
    body_serial();
  close();
  return {std::move(out_), std::move(plan_)};
}

} // namespace detail

CudaKernel emit_cuda(const Kernel& k) { return detail::Writer(k).run(); }

} // namespace kiln::cuda
