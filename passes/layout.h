// Operand layout for matmul: the tiled matmul kernel streams B = [.., K, N] along N. A B that
// is a transposed view (x @ W.t() in every Linear, q @ k^T in attention) runs along K instead,
// which leaves one dot product per output. Such an operand is copied (Op::Copy) into the
// layout the kernel streams: one pass over B, against a matmul that reads B once per block of
// rows. A product with fewer than 16 columns but many rows, or whose only reader transposes
// it, is computed transposed.
#pragma once
#include "passes/rewrite.h"

namespace kiln {

Graph matmul_operand_layout(const Graph& g);

// An unrealized permute that swaps the last two axes and keeps the others (a transpose).
bool swaps_last_two(const Node& n);

} // namespace kiln
