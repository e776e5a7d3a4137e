#include "passes/dot.h"

#include "ir/graph_printer.h"

#include <fmt/format.h>
#include <unordered_map>

namespace kiln {
namespace {

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

// A node's box: "%3 add", its attribute, and where the user wrote it (file name without folders).
std::string node_label(const Node& n, int id) {
  std::string s = fmt::format("%{} {}", id, n.realized() ? "buffer" : op_name(n.op));
  if (!n.realized()) {
    std::string a = attr_str(n);
    if (!a.empty()) s += " " + a;
  }
  std::string origin = node_origin(n);
  if (size_t slash = origin.rfind('/', origin.find(':')); slash != std::string::npos)
    origin = origin.substr(slash + 1);
  if (!origin.empty()) s += "\n" + origin;
  return s;
}

std::string node_style(const Node& n) {
  if (n.realized()) return "shape=box, style=filled, fillcolor=\"#e8e8e8\"";
  if (n.op == Op::Const) return "shape=plaintext, fontsize=10";
  if (is_movement(n.op)) return "shape=box, style=\"rounded,dashed\"";
  if (is_reduce(n.op) || n.op == Op::Matmul)
    return "shape=box, style=\"rounded,filled\", fillcolor=\"#ffe0b0\"";
  return "shape=box, style=rounded";
}

} // namespace

std::string graph_dot(const std::vector<Node*>& roots, const std::vector<FusionGroup>& groups) {
  std::vector<Node*> order = topo_order(roots, /*stop_at_realized=*/true);
  std::unordered_map<const Node*, int> id;
  for (Node* n : order) id.emplace(n, static_cast<int>(id.size()));
  // Graphviz puts a node in one cluster: a node recomputed by several kernels is drawn in the
  // first and its label names the others.
  std::unordered_map<const Node*, size_t> home;
  std::unordered_map<const Node*, std::string> also;
  for (size_t g = 0; g < groups.size(); ++g)
    for (Node* n : groups[g].nodes) {
      if (!home.emplace(n, g).second) also[n] += "\nalso in " + groups[g].kernel->name;
    }
  auto node_line = [&](const Node* n) {
    return fmt::format("    n{} [label=\"{}\", {}];\n", id.at(n),
                       escape(node_label(*n, id.at(n)) + also[n]), node_style(*n));
  };
  std::string out = "digraph kiln {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=11];\n"
                    "  edge [fontname=\"monospace\", fontsize=9];\n";
  for (size_t g = 0; g < groups.size(); ++g) {
    out += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n    style=filled;\n    "
                       "fillcolor=\"#eef4ff\";\n",
                       g, escape(groups[g].kernel->name));
    for (Node* n : groups[g].nodes)
      if (home.at(n) == g && id.count(n)) out += node_line(n);
    out += "  }\n";
  }
  for (Node* n : order)
    if (!home.count(n)) out += node_line(n);
  for (Node* n : order) {
    if (n->realized()) continue;
    for (auto& in : n->inputs)
      out += fmt::format("  n{} -> n{} [label=\"{}{}\"];\n", id.at(in.get()), id.at(n),
                         dtype_name(in->dtype), shape_str(in->shape));
  }
  for (size_t r = 0; r < roots.size(); ++r)
    out += fmt::format(
        "  out{} [label=\"return {}\", shape=plaintext];\n  n{} -> out{} [label=\"{}{}\"];\n", r, r,
        id.at(roots[r]), r, dtype_name(roots[r]->dtype), shape_str(roots[r]->shape));
  return out + "}\n";
}

} // namespace kiln
