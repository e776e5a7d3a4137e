// The Attention strategy (passes/attention_match.h): out[b, m, n] = sum_j softmax_j(score(q[b, m]
// . k[b, j])) v[b, j, n], the score matrix never written. One block per query row (b, m):
//   per chunk of 128 keys:  each thread one key's score (its dot product over D in a register)
//                           into shared memory; the chunk's max by a block reduction; the running
//                           sum and the outputs rescale by exp(old max - new max) (online
//                           softmax); P = exp(S - max) stays in shared memory
//   per output column:      each thread keeps its columns' sums in registers and adds P . v
//   out = acc / sum
// Outputs wider than 512 columns take one pass over the keys per 512. A query whose scores so far
// are all -inf (a causal mask) subtracts 0 instead of -inf, so its weights are 0, not NaN; a NaN
// score makes the row NaN through the NaN-propagating max, as the interpreter's softmax_sum.
// Not tuned on a GPU yet: several query rows per block sharing each chunk of K and V through
// shared memory (and tensor cores for both products) are the next step.
#include "codegen/cuda/cuda_scalar.h"
#include "codegen/cuda/cuda_writer.h"

#include <algorithm>

namespace kiln::cuda::detail {

void Writer::body_attention(const AttentionKernel& a) {
  constexpr int64_t threads = kAttentionThreads, most_columns = 4; // per thread and pass
  DType dt = k_.insts[a.out].dtype;
  bool f32 = dt == DType::F32;
  std::string t = c_type(dt), exp = f32 ? "expf" : "exp", fma = f32 ? "fmaf" : "fma";
  std::string zero = literal(dt, Scalar{}), neg_inf = reduce_identity(Op::Max, dt);
  // Writer refuses symbolic kernels before this: every size is a number here.
  const int64_t B = a.B.value(), M = a.M.value(), L = a.L.value();
  std::string jt = index_type(L), nt = index_type(a.N), dt_index = index_type(a.D);
  int64_t columns = std::min(most_columns, (a.N + threads - 1) / threads);
  auto with = [&](int i) {
    std::vector<bool> have(k_.insts.size(), false);
    have[i] = true;
    return have;
  };
  line("__shared__ {} kiln_p[{}];", t, threads);
  line("__shared__ {} kiln_slots[32];", t);
  std::string it = index_type(B * M);
  open(fmt::format("for ({0} o = blockIdx.x; o < {1}; o += gridDim.x)", it, B * M));
  decompose("o", {B, M}, "i", it);
  open(fmt::format("for (int n0 = 0; n0 < {}; n0 += {})", a.N, threads * columns));
  line("{} kiln_max = {}, kiln_sum = {}, kiln_acc[{}];", t, neg_inf, zero, columns);
  line("for (int c = 0; c < {}; ++c) kiln_acc[c] = {};", columns, zero);
  open(fmt::format("for (int j0 = 0; j0 < {0}; j0 += {1})", L, threads));
  // This thread's key: its score, -inf past the last key.
  line("{} kiln_score = {};", t, neg_inf);
  line("const {0} r1_0 = ({0})(j0 + threadIdx.x);", jt);
  open(fmt::format("if (r1_0 < {})", L));
  line("{} kiln_dot = {};", t, zero);
  open(fmt::format("for ({0} r0_0 = 0; r0_0 < {1}; ++r0_0)", dt_index, a.D));
  emit_needed({a.q, a.k});
  line("kiln_dot = {}({}, {}, kiln_dot);", fma, var(a.q), var(a.k));
  close();
  line("const {} {} = kiln_dot;", t, var(a.dot));
  emit_needed({a.score}, with(a.dot));
  line("kiln_score = {};", var(a.score));
  close();
  line("const {0} kiln_new = kiln_max_op()(kiln_max, kiln_block_reduce(kiln_score, {1}, "
       "kiln_slots, kiln_max_op()));",
       t, neg_inf);
  line("const {0} kiln_shift = kiln_new == {1} ? {2} : kiln_new;", t, neg_inf, zero);
  line("const {} kiln_alpha = {}(kiln_max - kiln_shift);", t, exp);
  line("const {} kiln_e = {}(kiln_score - kiln_shift);", t, exp);
  line("kiln_p[threadIdx.x] = kiln_e;"); // visible to all after the block reduction's barriers
  line("kiln_sum = kiln_sum * kiln_alpha + kiln_block_reduce(kiln_e, {}, kiln_slots, "
       "kiln_sum_op());",
       zero);
  line("kiln_max = kiln_new;");
  line("const int kiln_keys = {0} - j0 < {1} ? {0} - j0 : {1};", L, threads);
  line("#pragma unroll");
  open(fmt::format("for (int c = 0; c < {}; ++c)", columns));
  line("const {0} i2 = ({0})(n0 + c * {1} + threadIdx.x);", nt, threads);
  open(fmt::format("if (i2 < {})", a.N));
  line("{} kiln_o = kiln_acc[c] * kiln_alpha;", t);
  open("for (int kj = 0; kj < kiln_keys; ++kj)");
  line("const {0} r1_0 = ({0})(j0 + kj);", jt);
  emit_needed({a.value});
  line("kiln_o = {}(kiln_p[kj], {}, kiln_o);", fma, var(a.value));
  close();
  line("kiln_acc[c] = kiln_o;");
  close();
  close();
  line("__syncthreads(); // the next chunk rewrites kiln_p");
  close();
  line("#pragma unroll");
  open(fmt::format("for (int c = 0; c < {}; ++c)", columns));
  line("const {0} i2 = ({0})(n0 + c * {1} + threadIdx.x);", nt, threads);
  open(fmt::format("if (i2 < {})", a.N));
  line("const {} {} = kiln_acc[c] / kiln_sum;", t, var(a.out));
  emit_needed({k_.stores[0].index}, with(a.out));
  emit_stores(-1);
  close();
  close();
  close();
  close();
}

void Writer::attention_functors(DType t) {
  std::string ct = c_type(t);
  line("struct kiln_max_op {{ __device__ {0} operator()({0} x, {0} y) const {{ return {1}; }} }};",
       ct, reduce_step(Op::Max, t, "x", "y"));
  line("struct kiln_sum_op {{ __device__ {0} operator()({0} x, {0} y) const {{ return {1}; }} }};",
       ct, reduce_step(Op::Sum, t, "x", "y"));
}

} // namespace kiln::cuda::detail
