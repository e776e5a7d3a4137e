// CPU backend interface: kernel IR in, a native function out (LLVM ORC JIT in codegen/cpu/).
#pragma once
#include "ir/kernel.h"

#include <string>

namespace kiln::cpu {

// A compiled kernel runs the outermost domain loop over [begin, end); args are buffer pointers.
using KernelFn = void (*)(void* const* args, int64_t begin, int64_t end);

struct CompileOptions {
  bool keep_llvm_ir = false; // fill CompiledKernel::llvm_ir / llvm_ir_optimized
  bool keep_asm = false;     // fill CompiledKernel::assembly
};

struct CompiledKernel {
  KernelFn fn = nullptr;
  double compile_seconds = 0;
  std::string llvm_ir, llvm_ir_optimized, assembly;
};

CompiledKernel compile(const Kernel& k, const CompileOptions& opts = {});
// "cpu-name +feature,+feature,..." of the host the JIT targets (part of cache keys).
const std::string& host_target();

} // namespace kiln::cpu
