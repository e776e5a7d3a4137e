// Operand layout for matmul. A product the packed GEMM computes (passes/gemm_match.h: at least
// kGemmMinRows rows and kGemmMinCols columns) reads its operands in any layout while packing
// them, so transposed views (x @ W.t() in every Linear, q @ k^T in attention) stay views, as
// they do for products of 2 or 3 rows. For one row, the tiled kernel streams B = [.., K, N]
// along N, and a B that is a transposed view, which would leave one dot product per output, is
// copied (Op::Copy) into that layout. A product with fewer than kGemmMinCols columns but more
// rows, or whose only reader transposes it, is computed transposed.
#pragma once
#include "passes/rewrite.h"

namespace kiln {

Graph matmul_operand_layout(const Graph& g);

// An unrealized permute that swaps the last two axes and keeps the others (a transpose).
bool swaps_last_two(const Node& n);

} // namespace kiln
