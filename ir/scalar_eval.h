// Scalar semantics of every elementwise op: the reference interpreter and constant folding share
// it.
#pragma once
#include "ir/node.h"

namespace kiln {

// Values are Scalars: floats in f (computed in double), integers and bools in i, wrapped to
// their dtype like the compiled code wraps them.
Scalar eval_cast(Scalar v, DType from, DType to);
Scalar eval_unary(Op op, DType in, DType out, Scalar x);
Scalar eval_binary(Op op, DType in, Scalar x, Scalar y);
// Element k of a buffer of dtype t, and storing one: integers wrap to the dtype like the compiled
// code, bools are one byte.
Scalar load_scalar(const void* base, DType t, int64_t k);
void store_scalar(void* base, DType t, int64_t k, Scalar v);
// Integer power with wrap-around; negative exponents give 1/b^e truncated (0 unless |b| = 1).
int64_t int_pow(int64_t base, int64_t exp);

} // namespace kiln
