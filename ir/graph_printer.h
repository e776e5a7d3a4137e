// Stable text form of the graph IR: one node per line, SSA names, dtype and shape on each.
#pragma once
#include "ir/node.h"

#include <string>

namespace kiln {

struct GraphPrintOptions {
  bool source_locations = false; // append "# file:line" to each line
};

std::string attr_str(const Node& n); // "{axes=[1]}" or ""
std::string scalar_str(const Scalar& s, DType t);
// Where a node came from: "file:line label" (the label alone for a node parsed from text whose
// comment became its label; "" when unknown). Dumps, DOT graphs and profiles show this.
std::string node_origin(const Node& n);
std::string print_graph(const std::vector<Node*>& roots, GraphPrintOptions opts = {});

} // namespace kiln
