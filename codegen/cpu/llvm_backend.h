// The LLVM backend for the CPU: kernel IR -> LLVM IR -> -O3 -> an ELF object linked into the ORC
// JIT; launches split the outermost domain loop over the thread pool.
#pragma once
#include "codegen/backend.h"

namespace kiln {

const Backend& llvm_backend();

} // namespace kiln
