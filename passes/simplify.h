// Graph simplification passes, each one job (golden-tested in tests/test_passes.cpp):
//   fold     constant folding of elementwise ops on baked literals
//   algebra  exact algebraic identities (x*1, x/1, x-0, integer x+0 and x*0, --x, same-dtype casts)
//   views    view canonicalization (identity views dropped, chains of one kind merged)
//   dce      drops subgraphs that cannot affect a result (where on a literal condition, ...)
//   cse      common-subexpression elimination (structurally equal nodes become one)
// Parameters (ConstAttr::param) are never folded or merged: their values change between runs.
#pragma once
#include "passes/rewrite.h"

namespace kiln {

Graph fold_constants(const Graph& g);
Graph simplify_algebra(const Graph& g);
Graph canonicalize_views(const Graph& g);
Graph eliminate_dead_code(const Graph& g);
Graph eliminate_common_subexpressions(const Graph& g);

// A 0-d literal broadcast to `like`'s shape (reshape + expand), keeping its source location.
NodePtr literal_like(const Node& like, DType dtype, Scalar value);

} // namespace kiln
