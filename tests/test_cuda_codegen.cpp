// codegen/cuda: golden checks of the generated CUDA source and launch plans. NVRTC compiles the
// sweep's and the tests' kernels in CTest's cuda_nvrtc (tests/cuda_tools/compile_check.cpp),
// the host harness runs them in cuda_host_harness (test_cuda_host.cpp).
#include "codegen/cuda/cuda_emit.h"
#include "cuda_sweep.h"
#include "ir/error.h"
#include "ir/graph_parser.h"
#include "ir/kernel_parser.h"
#include "ir_check.h"
#include "passes/pipeline.h"

#include <catch2/catch.hpp>
#include <map>

namespace {

using kiln::cuda::CudaKernel;
using kiln::cuda::Strategy;

// The CUDA kernels of a graph given as graph-IR text, in execution order.
std::vector<CudaKernel> emit_graph(const std::string& text) {
  auto g = kiln::parse_graph(text);
  auto s = kiln::run_pipeline(g.roots(), {});
  std::vector<CudaKernel> out;
  for (auto& lk : s.kernels) out.push_back(kiln::cuda::emit_cuda(lk.kernel));
  return out;
}

// CHECK / CHECK-NEXT / CHECK-NOT lines ("# CHECK: ...") over the source, like the IR goldens.
void check_source(const CudaKernel& k, const std::string& checks) {
  auto golden = kt::read_golden(checks);
  std::string problem = kt::match_checks(golden.checks, k.source);
  INFO(k.source);
  CHECK(problem == "");
}

} // namespace

TEST_CASE("cuda: an elementwise chain is one pointwise kernel with 32-bit indices", "[cuda]") {
  auto ks = emit_graph(R"(
%x = buffer : f32[1000]
%a = buffer : f32[1000]
%m = mul %x, %a : f32[1000]
%e = exp %m : f32[1000]
%t = tanh %e : f32[1000]
return %t
)");
  REQUIRE(ks.size() == 1);
  const auto& p = ks[0].plan;
  CHECK(p.strategy == Strategy::Pointwise);
  CHECK(p.block[0] == 256);
  CHECK(p.grid[0] == 4);
  CHECK(p.dynamic_shared_bytes == 0);
  REQUIRE(p.args.size() == 3);
  CHECK((!p.args[0].param && !p.args[0].output && p.args[2].output));
  check_source(ks[0], R"(
# CHECK: extern "C" __global__ void __launch_bounds__(256) k_{{[a-z_]+}}_{{[0-9a-f]+}}(const float* __restrict__ a0, const float* __restrict__ a1, float* a2)
# CHECK-NEXT: {
# CHECK-NEXT: for (int o = (int)blockIdx.x * blockDim.x + threadIdx.x; o < 1000; o += (int)gridDim.x * blockDim.x) {
# CHECK-NEXT: const int i0 = (int)(o);
# CHECK-NEXT: const int v0 = i0;
# CHECK: = (v{{[0-9]+}} * v{{[0-9]+}});
# CHECK-NEXT: = expf(v
# CHECK-NEXT: = tanhf(v
# CHECK-NEXT: a2[v0] = v
# CHECK-NOT: __expf
)");
}

TEST_CASE("cuda: softmax is one warp-row kernel: unrolled stages, shuffle reductions broadcast to "
          "the map stage",
          "[cuda]") {
  auto ks = emit_graph(R"(
%x = buffer : f32[4, 40]
%m = max %x {axes=[1]} : f32[4, 1]
%me = expand %m : f32[4, 40]
%d = sub %x, %me : f32[4, 40]
%e = exp %d : f32[4, 40]
%s = sum %e {axes=[1]} : f32[4, 1]
%se = expand %s : f32[4, 40]
%y = div %e, %se : f32[4, 40]
return %y
)");
  REQUIRE(ks.size() == 1);
  CHECK(ks[0].plan.strategy == Strategy::WarpRow);
  CHECK(ks[0].plan.grid[0] == 1); // 8 rows a block
  CHECK(ks[0].plan.block[0] == 256);
  check_source(ks[0], R"(
# CHECK: struct kiln_op9 { __device__ float operator()(float acc, float x) const { return kiln_max(acc, x); } };
# CHECK: struct kiln_op17 { __device__ float operator()(float acc, float x) const { return (acc + x); } };
# CHECK-NOT: __shared__
# CHECK: const int lane = threadIdx.x & 31;
# CHECK-NEXT: for (int o = (int)blockIdx.x * 8 + (threadIdx.x >> 5); o < 4; o += (int)gridDim.x * 8) {
# CHECK: auto acc9 = (-__int_as_float(0x7f800000));
# CHECK-NEXT: #pragma unroll
# CHECK-NEXT: for (int rj = 0; rj < 2; ++rj) {
# CHECK-NEXT: const int rl = rj * 32 + lane;
# CHECK-NEXT: if (rl < 40) {
# CHECK: acc9 = kiln_max(acc9, v8);
# CHECK: const float v9 = kiln_warp_reduce(acc9, kiln_op9());
# CHECK: acc17 = (acc17 + v16);
# CHECK: const float v17 = kiln_warp_reduce(acc17, kiln_op17());
# CHECK: for (int rj = 0; rj < 2; ++rj) {
# CHECK: = expf(
# CHECK: = (v11 / v17);
# CHECK-NEXT: a1[v4] = v18;
# CHECK-NOT: if (lane == 0)
)");
  // Rows past kWarpRowMax, and f64 rows, take a block each.
  auto wide = emit_graph(R"(
%x = buffer : f32[4, 1500]
%m = max %x {axes=[1]} : f32[4, 1]
%me = expand %m : f32[4, 1500]
%d = sub %x, %me : f32[4, 1500]
return %d
)");
  REQUIRE(wide.size() == 1);
  CHECK(wide[0].plan.strategy == Strategy::Row);
  CHECK(wide[0].plan.grid[0] == 4);
  check_source(wide[0], R"(
# CHECK: __shared__ float kiln_slots{{[0-9]+}}[32];
# CHECK: for (int o = blockIdx.x; o < 4; o += gridDim.x) {
# CHECK: for (int rl = threadIdx.x; rl < 1500; rl += blockDim.x) {
# CHECK: kiln_block_reduce(
)");
}

TEST_CASE("cuda: a sum over rows stores once per row; a column sum runs a thread per column",
          "[cuda]") {
  auto rows = emit_graph(R"(
%x = buffer : f64[5, 1000]
%s = sum %x {axes=[1]} : f64[5, 1]
return %s
)");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].plan.strategy == Strategy::Row);
  CHECK(rows[0].plan.block[0] == 256);
  check_source(rows[0], R"(
# CHECK: for (int rl = threadIdx.x; rl < 1000; rl += blockDim.x) {
# CHECK: const double v{{[0-9]+}} = a0[v{{[0-9]+}}];
# CHECK: kiln_block_reduce(
# CHECK: if (threadIdx.x == 0) {
# CHECK-NEXT: a1[
)");
  auto cols = emit_graph(R"(
%x = buffer : f32[1000, 300]
%s = sum %x {axes=[0]} : f32[1, 300]
return %s
)");
  REQUIRE(cols.size() == 1);
  CHECK(cols[0].plan.strategy == Strategy::Serial);
  check_source(cols[0], R"(
# CHECK: float acc{{[0-9]+}} = 0.0f;
# CHECK-NEXT: for (int r0_0 = 0; r0_0 < 1000; ++r0_0) {
# CHECK-NOT: kiln_block_reduce(
)");
}

TEST_CASE("cuda: a padded view reads through a masked load", "[cuda]") {
  auto ks = emit_graph(R"(
%x = buffer : f32[4, 6]
%p = pad %x {before=[0,1], value=0} : f32[4, 8]
%y = exp %p : f32[4, 8]
return %y
)");
  REQUIRE(ks.size() == 1);
  check_source(ks[0], R"(
# CHECK: const float v{{[0-9]+}} = (v{{[0-9]+}} ? a0[v{{[0-9]+}}] : 0.0f);
# CHECK: expf(
)");
}

TEST_CASE("cuda: a matmul with bias and relu is a shared-memory tiled kernel", "[cuda]") {
  auto ks = emit_graph(R"(
%x = buffer : f32[70, 30]
%w = buffer : f32[30, 130]
%b = buffer : f32[130]
%mm = matmul %x, %w : f32[70, 130]
%rb = reshape %b : f32[1, 130]
%eb = expand %rb : f32[70, 130]
%a = add %mm, %eb : f32[70, 130]
%z = const {value=0} : f32[]
%rz = reshape %z : f32[1, 1]
%ez = expand %rz : f32[70, 130]
%y = maximum %a, %ez : f32[70, 130]
return %y
)");
  REQUIRE(ks.size() == 1);
  const auto& p = ks[0].plan;
  CHECK(p.strategy == Strategy::TiledMatmul);
  CHECK((p.grid[0] == 3 && p.grid[1] == 2 && p.grid[2] == 1 && p.block[0] == 256));
  check_source(ks[0], R"(
# CHECK: __shared__ float kiln_a[16][64];
# CHECK: tensor-core MMA
# CHECK: for (int k0 = 0; k0 < 30; k0 += 16) {
# CHECK: kiln_a[kk][mm] = x;
# CHECK: kiln_b[kk][nn] = x;
# CHECK: acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
# CHECK: if (i0 < 70 && i1 < 130) {
# CHECK: kiln_max(
# CHECK: a3[
)");
}

TEST_CASE("cuda: an op without a CUDA lowering is an error naming it", "[cuda]") {
  auto k = kiln::parse_kernel(R"(kernel k_div(a0: i32[4], a1: i32[4] out)
  domain [4]
  %0 = index 0 : i64
  %1 = load a0[%0] : i32
  %2 = div %1, %1 : i32
  store a1[%0] = %2
)",
                              "test");
  CHECK_THROWS_WITH(kiln::cuda::emit_cuda(k), Catch::Contains("div") && Catch::Contains("i32"));
}

TEST_CASE("cuda: every kernel of the sweep is emitted", "[cuda]") {
  std::map<Strategy, int> by_strategy;
  int kernels = 0;
  for (auto& c : kiln::cuda_sweep::cases()) {
    std::vector<kiln::Node*> roots;
    for (auto& t : c.outputs) roots.push_back(t.node().get());
    auto s = kiln::run_pipeline(roots, {});
    for (auto& lk : s.kernels) {
      INFO(c.name << "\n" << kiln::print_kernel(lk.kernel));
      auto ck = kiln::cuda::emit_cuda(lk.kernel);
      ++by_strategy[ck.plan.strategy];
      ++kernels;
    }
  }
  for (Strategy st : {Strategy::Pointwise, Strategy::Row, Strategy::WarpRow, Strategy::Serial,
                      Strategy::TiledMatmul})
    CHECK(by_strategy[st] > 0);
  WARN("emitted " << kernels << " CUDA kernels");
}
