// Runtime knobs: read once from the environment (see DESIGN.md "Knobs"), changeable from C++.
#pragma once
#include <string>

namespace kiln {

struct Options {
  std::string dump; // KILN_DUMP: comma list of graph, kernels, llvm, asm
  bool dumps(const std::string& stage) const;
};

Options& options();

} // namespace kiln
