// Kernel IR -> LLVM IR (one module per kernel). Only codegen/cpu/ sees LLVM headers.
#pragma once
#include "ir/kernel.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <memory>
#include <string>

namespace kiln::cpu {

// What code generation needs to know of the host beyond LLVM's target features: the widest
// FMA vectors and the data cache sizes (GEMM blocking, emit_gemm.cpp).
struct HostTarget {
  std::string cpu, features;
  bool avx512 = false;
  int64_t vector_bytes = 32;
  int64_t l1d_bytes = 32 << 10, l2_bytes = 512 << 10;
};

// Builds `void <k.name>(ptr args, i64 begin, i64 end)` and its always-inlined noalias body.
std::unique_ptr<llvm::Module> emit_llvm(const Kernel& k, llvm::LLVMContext& ctx,
                                        const HostTarget& target);

} // namespace kiln::cpu
