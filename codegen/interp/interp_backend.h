// The kernel-IR interpreter as a CPU backend: the CPU's backend when kiln is built without LLVM
// (KILN_LLVM=OFF), and KILN_BACKEND=interp in any build.
#pragma once
#include "codegen/backend.h"

namespace kiln {

const Backend& interp_backend();

} // namespace kiln
