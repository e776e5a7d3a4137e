// The TiledMatmul strategy: 64 x 64 output tiles, 256 threads of 4 x 4 outputs each, operands
// staged through shared memory 16 reduction steps at a time; the epilogue (bias, activation,
// stores) runs per output. This is where tensor-core MMA (mma.sync / wgmma on sm_90) goes: the
// tile loop below is the part to replace; loads and epilogue stay.
#include "codegen/cuda/cuda_scalar.h"
#include "codegen/cuda/cuda_writer.h"

namespace kiln::cuda::detail {

void Writer::tiled_operand(int root, bool lhs, const std::string& mn_var) {
  std::vector<bool> need = needed({root});
  // Consecutive threads walk the operand's contiguous axis (k for a row-major lhs).
  bool k_fast = lhs;
  for (int i = 0; i <= root; ++i)
    if (need[i] && k_.insts[i].op == Op::Load) {
      k_fast = index_stride(k_, k_.insts[i].a, Op::ReduceIndex, 0) == std::optional<int64_t>(1);
      break;
    }
  size_t nd = k_.domain.size();
  size_t axis = lhs ? nd - 2 : nd - 1;
  std::string tile = lhs ? "kiln_a" : "kiln_b", t = c_type(k_.insts[root].dtype);
  open("for (int e = threadIdx.x; e < 64 * 16; e += 256)");
  line("const int kk = {};", k_fast ? "e % 16" : "e / 64");
  line("const int {} = {};", mn_var, k_fast ? "e / 16" : "e % 64");
  std::string it = index_type(k_.domain[axis].value());
  line("const {} i{} = ({}){}0 + {};", it, axis, it, lhs ? "m" : "n", mn_var);
  std::string rt = index_type(k_.stages[0][0].value());
  line("const {} r0_0 = ({})(k0 + kk);", rt, rt);
  line("{} x = {};", t, literal(k_.insts[root].dtype, Scalar{}));
  open(fmt::format("if (i{} < {} && r0_0 < {})", axis, k_.domain[axis].value(),
                   k_.stages[0][0].value()));
  emit_needed({root});
  line("x = {};", var(root));
  close();
  line("{}[kk][{}] = x;", tile, mn_var);
  close();
}

void Writer::body_tiled(const MatmulSplit& mm) {
  size_t nd = k_.domain.size();
  int64_t m_ext = k_.domain[nd - 2].value(), n_ext = k_.domain[nd - 1].value(),
          k_ext = k_.stages[0][0].value();
  std::vector<int64_t> batch = concrete({k_.domain.begin(), k_.domain.end() - 2});
  int64_t nbatch = numel(batch);
  DType st = k_.insts[mm.mul].dtype;
  std::string t = c_type(st), fma = st == DType::F32 ? "fmaf" : "fma";
  line("__shared__ {} kiln_a[16][64];", t);
  line("__shared__ {} kiln_b[16][64];", t);
  line("const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;");
  line("const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;");
  std::string bt = index_type(nbatch);
  open(fmt::format("for ({0} bz = blockIdx.z; bz < {1}; bz += gridDim.z)", bt, nbatch));
  decompose("bz", batch, "i", bt);
  line("{} acc[4][4];", t);
  line("#pragma unroll");
  line("for (int i = 0; i < 4; ++i)");
  line("  for (int j = 0; j < 4; ++j) acc[i][j] = {};", literal(st, Scalar{}));
  line("// Shared-memory tiles, FMA per thread: the place tensor-core MMA (mma.sync / wgmma) will "
       "go.");
  open(fmt::format("for (int k0 = 0; k0 < {}; k0 += 16)", k_ext));
  tiled_operand(mm.lhs, true, "mm");
  tiled_operand(mm.rhs, false, "nn");
  line("__syncthreads();");
  line("#pragma unroll");
  open("for (int kk = 0; kk < 16; ++kk)");
  line("{} a[4], b[4];", t);
  line("#pragma unroll");
  line("for (int i = 0; i < 4; ++i) a[i] = kiln_a[kk][ty + 16 * i], b[i] = kiln_b[kk][tx + 16 * "
       "i];");
  line("#pragma unroll");
  line("for (int i = 0; i < 4; ++i)");
  line("  for (int j = 0; j < 4; ++j) acc[i][j] = {}(a[i], b[j], acc[i][j]);", fma);
  close();
  line("__syncthreads();");
  close();
  // Epilogue: each of the thread's outputs, with everything the kernel computes after the sum.
  line("#pragma unroll");
  open("for (int i = 0; i < 4; ++i)");
  line("#pragma unroll");
  open("for (int j = 0; j < 4; ++j)");
  line("const {0} i{1} = ({0})(m0 + ty + 16 * i);", index_type(m_ext), nd - 2);
  line("const {0} i{1} = ({0})(n0 + tx + 16 * j);", index_type(n_ext), nd - 1);
  open(fmt::format("if (i{} < {} && i{} < {})", nd - 2, m_ext, nd - 1, n_ext));
  line("const {} {} = acc[i][j];", c_type(k_.insts[mm.sum].dtype), var(mm.sum));
  emit_placed(-1, -1);
  emit_placed(-1, 0);
  emit_stores(-1);
  close();
  close();
  close();
  close();
}

} // namespace kiln::cuda::detail
