// The value of a kernel-IR sym instruction at one size (the interpreter and instantiate()).
#pragma once
#include "ir/kernel.h"

namespace kiln {

// in.sym at S = s converted to in.dtype; or, when in.value.f != 0 (a float dtype only),
// in.value.f / in.sym: a reciprocal count such as the -1/B of a mean's gradient. Not rounded to
// the dtype, as a literal's Scalar is not.
Scalar sym_literal(const KInst& in, int64_t s);

} // namespace kiln
