// Vectorizable f32 transcendental functions emitted inline as LLVM IR (Cephes-style polynomials).
//
// libm calls keep LLVM from vectorizing a loop; these straight-line versions (selects, bit
// casts, FMAs) vectorize to the widest registers. Accuracy: a few ulp over the whole range, with
// IEEE special values (NaN, +-inf, +-0) and denormal inputs and results handled like libm.
#pragma once
#include <llvm/IR/IRBuilder.h>

namespace kiln::cpu {

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* emit_log_f32(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& b, llvm::Value* x);

} // namespace kiln::cpu
