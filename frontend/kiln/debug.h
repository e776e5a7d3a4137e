// Looking inside the compiler from C++: the graph's text, its Graphviz drawing, the profile.
#pragma once
#include "kiln/tensor.h"

#include <string>

namespace kiln {

// The graph IR under these tensors (what KILN_DUMP=graph prints, with source lines); parses back
// with ir/graph_parser.h and feeds kiln-opt.
std::string ir_text(const std::vector<Tensor>& tensors);
// Graphviz DOT of the graph as it would compile now (current options()): kernels as clusters,
// dtype/shape on edges, source lines on nodes. Runs the passes and scheduling, compiles nothing.
std::string dot_text(const std::vector<Tensor>& tensors);
// Writes dot_text() to path (render with `dot -Tsvg path -o graph.svg`). Throws kiln::Error.
void dump_dot(const std::vector<Tensor>& tensors, const std::string& path);
// The KILN_PROFILE per-kernel table so far (profiling must be on: KILN_PROFILE or profile_start).
std::string profile_table();
// Switches profiling on from C++ ("1": table at exit, a path: Chrome-trace JSON at exit).
void profile_start(const std::string& mode = "1");

} // namespace kiln
