// A small FileCheck for the golden IR tests: CHECK, CHECK-NEXT and CHECK-NOT lines over a text.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace kt {

struct CheckLine {
  enum Kind { Check, Next, Not } kind;
  std::string pattern; // literal text; {{regex}} parts are regular expressions
  int line;            // in the test file
};

// The RUN arguments and CHECK lines of a test file ("# RUN: ...", "# CHECK: ...").
struct GoldenFile {
  std::vector<std::string> run_args;
  std::vector<CheckLine> checks;
};
GoldenFile read_golden(const std::string& text);

// A whole file as text (empty when unreadable).
std::string slurp(const std::filesystem::path& p);

// Empty when `output` satisfies the checks, else what failed (with the check's file line).
std::string match_checks(const std::vector<CheckLine>& checks, const std::string& output);

// The file with its CHECK and CHECK-NEXT lines replaced by ones that match `output` exactly
// (kernel-name hashes generalized); CHECK-NOT lines and everything else stay.
std::string rewrite_checks(const std::string& text, const std::string& output);

} // namespace kt
