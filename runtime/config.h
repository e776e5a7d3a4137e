// Runtime knobs: read once from the environment (see DESIGN.md "Knobs"), changeable from C++.
#pragma once
#include "ir/device.h"

#include <string>

namespace kiln {

// Process-wide compiler options; programs compiled after a change use the new values.
struct Options {
  std::string dump;     // KILN_DUMP: comma list of graph, kernels, llvm, asm
  std::string dump_dir; // KILN_DUMP_DIR: dumps go to files there (runtime/dump.h), not stderr
  bool fusion = true;   // KILN_FUSION=0: one kernel per compute node (the unfused baseline)
  bool simplify = true; // KILN_SIMPLIFY=0: skip the graph simplification passes
  // KILN_DYNAMIC=0: every new size of a graph compiles its own program; else a structure that
  // comes back at another size compiles once more for every size (runtime/size_family.h).
  bool dynamic = true;
  // KILN_CHECK_ROUNDTRIP=1: every compiled program's graph and kernels go through print -> parse
  // -> print and must come back identical (the test suite runs once this way).
  bool check_roundtrip = false;
  // KILN_BACKEND: the CPU backend that compiles and runs kernels, llvm or interp (the kernel-IR
  // interpreter); empty: llvm when kiln is built with it.
  std::string backend;
  // KILN_DEVICE: where creation ops put new tensors unless told (cpu, cuda, cuda:N).
  Device device;
  bool dumps(const std::string& stage) const;
};

Options& options();

} // namespace kiln
