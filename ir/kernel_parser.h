// Parser for the kernel-IR text that print_kernel() emits (print -> parse -> print is identical).
#pragma once
#include "ir/kernel.h"

#include <string_view>

namespace kiln {

// One or more `kernel name(args) ... store ...` blocks; blank and '#' comment lines are skipped.
// Each kernel is checked with verify_kernel(). Throws kiln::Error "[parse] name:line:col: ...".
std::vector<Kernel> parse_kernels(std::string_view text, std::string_view source_name = "<input>");
// Exactly one kernel.
Kernel parse_kernel(std::string_view text, std::string_view source_name = "<input>");

} // namespace kiln
