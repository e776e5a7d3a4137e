// Kernel IR -> LLVM IR (one module per kernel). Only codegen/cpu/ sees LLVM headers.
#pragma once
#include "ir/kernel.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <memory>

namespace kiln::cpu {

// Builds `void <k.name>(ptr args, i64 begin, i64 end)` and its always-inlined noalias body.
std::unique_ptr<llvm::Module> emit_llvm(const Kernel& k, llvm::LLVMContext& ctx,
                                        const std::string& cpu, const std::string& features,
                                        bool has_avx512);

} // namespace kiln::cpu
