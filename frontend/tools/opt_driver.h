// kiln-opt's engine, shared with the golden tests: IR text in, passes run, a stage's text out.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kiln::opt {

struct Request {
  std::vector<std::string>
      passes; // graph pass names, "simplify" (all of them), "schedule", "lower"
  std::string
      emit; // graph, fused, kernels, llvm, llvm-opt, asm, dot, cuda, ptx ("" = after the passes)
  std::vector<std::string> print_after; // pass names, or "all"
  bool verify_each = false;
  bool fusion = true;
  std::string cpu; // llvm, llvm-opt and asm for this CPU instead of the host ("" = the host)
  std::string source_name = "<stdin>";
};

struct Result {
  std::string out; // the emitted stage
  std::string log; // --print-after text (kiln-opt writes it to stderr, like LLVM's opt)
};

// Parses kiln-opt's arguments (not argv[0]); throws kiln::Error on an unknown one. Non-option
// arguments go to `files`.
Request parse_args(const std::vector<std::string>& args, std::vector<std::string>& files,
                   bool& help);
// Runs the request on graph-IR (or, for code stages, kernel-IR) text. Throws kiln::Error.
Result run(std::string_view text, const Request& r);
std::string help_text();

} // namespace kiln::opt
