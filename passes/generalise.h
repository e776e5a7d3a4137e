// Size generalisation: the kernels one graph structure lowers to at several sizes of one axis
// become one symbolic kernel, whose integers that differ between them are polynomials in the size.
#pragma once
#include "ir/kernel.h"

#include <optional>
#include <vector>

namespace kiln {

struct SizedKernel {
  int64_t size;         // the value of the symbolic axis this kernel was lowered at
  const Kernel* kernel; // concrete
};

// One kernel for all the samples (at least two, of distinct sizes): every extent, element count
// and integer-valued literal that differs between them becomes a polynomial with integer
// coefficients in the size S (affine from two samples, at most quadratic from three or more),
// passed as a new last i64 parameter (also when nothing depends on it); a float literal n/q with q
// such an integer and n in {±1, ±2} becomes n over the polynomial (ir/sym_literal.h); what agrees
// stays a constant. nullopt when the samples differ in anything else (ops, dtypes, operands, other
// literals), no such polynomial fits, or they are fused attention kernels whose head dim or value
// width would be symbolic (passes/attention_match.h). Lowering shares equal constants, so a sample
// whose size equals another constant of its kernel (a batch of 16 in a kernel with a stride of 16)
// has fewer instructions than the others and is refused: generalise from other sizes (instantiate
// at such a size shares constants the same way and matches). A fit is a guess: run the kernel at a
// size s only when instantiate(k, s) equals the kernel lowered at s. When it refuses and `why` is
// given, *why says where the samples differ (for KILN_EXPLAIN_CACHE and tests).
std::optional<Kernel> generalise(const std::vector<SizedKernel>& samples,
                                 std::string* why = nullptr);

// The concrete kernel at size s: the last parameter (the size) removed and every polynomial
// evaluated, equal instructions merged and the kernel renamed, as lowering at s names it.
// Throws kiln::Error when the last parameter is no size or an extent would be negative at s.
Kernel instantiate(const Kernel& k, int64_t s);

} // namespace kiln
