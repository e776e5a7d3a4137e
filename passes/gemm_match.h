// Recognises a GEMM in kernel IR: one reduction stage summing a product of an operand over
// (m, k) and one over (k, n), where m and n are the domain's last two loops and any loops before
// them are batch loops. Backends emit such a kernel as a packed, cache-blocked GEMM (the operand
// expressions are evaluated while packing, the instructions after the sum run as its epilogue);
// the runtime gives each thread one contiguous range of the outer loop (see GemmMatch).
//
// In a symbolic kernel (ir/sym_int.h) the rows M, the reduction's extent K and the batch loops
// may be symbolic: the emitter reads them from the size parameter at launch, with the register
// tile and cache blocks fixed when it compiles. The columns N must be concrete: the blocks of B
// (K x NC) and the thread split along columns are planned from them.
#pragma once
#include "ir/kernel.h"

#include <optional>

namespace kiln {

// A register tile of the packed GEMM pays from this many rows and columns of the product on.
constexpr int64_t kGemmMinRows = 4, kGemmMinCols = 8;

struct GemmMatch {
  int sum = -1, mul = -1; // the float Sum over the stage and the product it reads
  int a = -1, b = -1;     // the product's operands: a reads no loop n, b no loop m
  int m_axis = -1, n_axis = -1;
  SymInt M, K; // rows and the reduction's extent: either may be symbolic
  int64_t N = 0;
  // A 2-D GEMM (no batch loops) splits its work between threads along the columns when it has
  // fewer rows than columns: each thread then packs only its share of B (which is K x N) and all
  // of A (M x K, the smaller), instead of all of B. A call over [begin, end) of the M rows then
  // computes all rows of the columns [begin * N / M, end * N / M), in whole register tiles.
  // False for a symbolic M: the emitted code then compares M with N at launch.
  bool split_columns = false;
};

// nullopt when k is not such a GEMM, or too small in m or n for a register tile to pay (a
// matrix-vector product stays a plain reduction, memory-bound either way). A symbolic M or K
// is taken whatever it will be (0 included): small sizes run correctly, just not fast.
std::optional<GemmMatch> match_gemm(const Kernel& k);

} // namespace kiln
