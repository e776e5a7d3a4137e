// Recognises attention, softmax(f(q @ kt)) @ v with the softmax over the keys, at both IR levels:
// in the graph (the scheduler makes it one kernel, lowering writes that kernel) and in kernel IR
// (backends emit it as a flash-style kernel: scores in register tiles, an online softmax, the
// score matrix never written).
//
// Why the graph: the pattern spans what would otherwise be three kernels (two products and a row
// softmax between them), and whether it may be one is a question about graph users: the
// probabilities must not be needed elsewhere (autodiff's softmax rule reads them, so a training
// step keeps the unfused kernels and only forward passes fuse). Kernel IR cannot even state the
// pattern before it is fused (a reduction nested in another stage's loop); once fused, the kernel
// states it exactly (ir/kernel.h: a nested stage and a softmax_sum), and backends match that.
#pragma once
#include "ir/kernel.h"

#include <optional>
#include <vector>

namespace kiln {

// Graph level. f is any elementwise function of the scores of their shape [..., M, L] (a scale,
// a causal mask by masked_fill or an additive mask), the softmax kiln's or the div form:
//   e = exp(s - max(s)), p = e * reciprocal(sum(e)) or e / sum(e), both over the last axis.
struct AttentionPattern {
  Node* out = nullptr;                            // the second product, [..., M, N]
  Node* product = nullptr;                        // q @ kt, [..., M, L]
  Node* scores = nullptr;                         // f(product): the softmax's input
  Node *q = nullptr, *kt = nullptr, *v = nullptr; // [..., M, D], [..., D, L], [..., L, N]
  // Every node from the product up to the probabilities (the out's first operand): none of
  // them is written when the pattern becomes one kernel.
  std::vector<Node*> interior;
};

// nullopt unless `out` is the second product of such a pattern (over unrealized nodes, float).
std::optional<AttentionPattern> match_attention(Node* out);

// Kernel level: the kernel lowering makes of a pattern (passes/lower.cpp), domain [B, M, N]:
//   stage 0 [D]: dot = sum(q * k) @0 (nested in stage 1: q at (m, d), k at (j, d))
//   stage 1 [L]: out = softmax_sum(score, value) @1; score a function of dot, (m, j);
//                value at (j, n)
// and one store of out at (b, m, n).
//
// In a symbolic kernel (ir/sym_int.h) the batch B, the query rows M and the keys L may be
// symbolic (a sequence length, a batch): backends read them from the size parameter at launch.
// The head dim D and the value width N must be concrete: they size the register-tiled panels.
struct AttentionKernel {
  int out = -1, score = -1, value = -1, dot = -1, q = -1, k = -1;
  SymInt B, M, L;
  int64_t N = 0, D = 0;
};

std::optional<AttentionKernel> match_attention_kernel(const Kernel& k);

} // namespace kiln
