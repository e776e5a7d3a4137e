// The LLVM ORC JIT behind the LLVM backend (llvm_backend.cpp): kernel IR in, native code out.
#pragma once
#include "ir/kernel.h"

#include <string>
#include <string_view>

namespace kiln::cpu {

// A compiled kernel runs the outermost domain loop over [begin, end); args are buffer pointers.
using KernelFn = void (*)(void* const* args, int64_t begin, int64_t end);

struct CompileOptions {
  bool keep_llvm_ir = false; // fill CompiledKernel::llvm_ir / llvm_ir_optimized
  bool keep_asm = false;     // fill CompiledKernel::assembly
  bool keep_object = false;  // fill CompiledKernel::object (what a disk cache stores)
  bool keep_timing = false;  // fill CompiledKernel::timing
  // An x86-64 CPU of LLVM's (znver4, skylake-avx512, znver3) to compile for instead of the host,
  // with its features and vector width and the host's cache sizes: to read the code another host
  // gets (kiln-opt --mcpu). Only the dumps are kept; no code is loaded (fn stays null).
  std::string cpu{};
};

struct CompiledKernel {
  KernelFn fn = nullptr;
  double compile_seconds = 0;
  std::string llvm_ir, llvm_ir_optimized, assembly;
  std::string timing; // where the compile's CPU time went, by phase and by LLVM pass
  std::string object; // ELF relocatable object of the optimized kernel, for load_object()
};

CompiledKernel compile(const Kernel& k, const CompileOptions& opts = {});
// Loads native code made by compile() (CompiledKernel::object, e.g. read back from a disk cache)
// and returns the kernel `name` in it: links only, no optimization or code generation. Each
// load gets its own JIT namespace, so the same kernel may be loaded again. Throws kiln::Error
// when LLVM rejects the object.
KernelFn load_object(const std::string& name, std::string_view object);
// "cpu-name +feature,+feature,..." of the host the JIT targets (part of cache keys).
const std::string& host_target();
// LLVM_VERSION_STRING of the LLVM that generates code (part of cache keys: other LLVM, other code).
const std::string& llvm_version();

} // namespace kiln::cpu
