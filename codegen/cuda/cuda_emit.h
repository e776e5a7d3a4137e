// Kernel IR -> CUDA C++ source text and a launch plan. Pure text: builds and runs without any
// CUDA header, toolkit or GPU, so the generated source is golden-testable everywhere.
#pragma once
#include "ir/kernel.h"

#include <string>
#include <string_view>
#include <vector>

namespace kiln::cuda {

// How a kernel's iterations map onto the GPU.
enum class Strategy {
  Pointwise, // no stages: one thread per domain point, grid-stride loop
  Row,       // stages: one block per outer point, each stage a strided loop over the row
  WarpRow, // stages over rows of at most kWarpRowMaxBytes: one warp per outer point, each stage an
           // unrolled loop of constant stride (the row's loads stay in registers from one
           // stage to the next), reductions by shuffles alone
  Serial,  // stages: one thread per outer point runs the stages in turn (column reductions,
           // short rows: the loads stay coalesced across threads)
  TiledMatmul, // one stage summing products of a row operand and a column operand
  Attention,   // softmax(score(q k^T)) v (passes/attention_match.h): one block per query row, an
               // online softmax over chunks of keys whose scores stay in shared memory
};
std::string_view strategy_name(Strategy s);
// The longest row a warp takes: 32 elements a lane stay in registers on sm_90 without spills,
// for types of 4 bytes or less (f64 math inlined 16 times a lane spilled: f64 rows use Row).
constexpr int64_t kWarpRowMax = 1024;

struct LaunchArg {
  bool param; // false: buffer a<index>; true: scalar parameter p<index>
  int index;
  DType dtype; // bool buffers and parameters travel as one byte
  bool output; // buffers only
};

struct LaunchPlan {
  std::string entry; // the extern "C" __global__ function's name
  Strategy strategy = Strategy::Pointwise;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  size_t dynamic_shared_bytes = 0; // all shared memory of these kernels is static
  std::vector<LaunchArg> args;     // kernel argument order: buffers a0.., then params p0..
};

struct CudaKernel {
  std::string source; // one translation unit for NVRTC: prelude + the kernel
  LaunchPlan plan;
};

// Throws kiln::Error naming the op and dtype for anything it cannot emit (never a silent gap).
CudaKernel emit_cuda(const Kernel& k);

} // namespace kiln::cuda
