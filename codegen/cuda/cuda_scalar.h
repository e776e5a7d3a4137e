// CUDA C++ text of scalar values and elementwise instructions, with the CPU backend's semantics
// (no fast math, NaN-propagating max/min, wrapping integers, x86-like float -> int casts).
#pragma once
#include "ir/kernel.h"

#include <string>
#include <vector>

namespace kiln::cuda {

std::string c_type(DType t);   // in registers
std::string mem_type(DType t); // in memory and kernel parameters: bool is one byte
std::string literal(DType t, Scalar v);

// The right-hand side of elementwise instruction i (unary, binary, ternary, Const,
// FloorDiv/Mod) given its operands' expressions. Throws kiln::Error naming the op and dtype
// when there is no CUDA lowering for it.
std::string scalar_expr(const Kernel& k, int i, const std::vector<std::string>& operand);

// A reduction's identity and the expression folding x into acc (Sum, Prod, Max, Min).
std::string reduce_identity(Op op, DType t);
std::string reduce_step(Op op, DType t, const std::string& acc, const std::string& x);

} // namespace kiln::cuda
