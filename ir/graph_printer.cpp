#include "ir/graph_printer.h"

#include "ir/resize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unordered_map>

namespace kiln {

std::string scalar_str(const Scalar& s, DType t) {
  if (!is_float(t)) return t == DType::Bool ? (s.i ? "true" : "false") : fmt::format("{}", s.i);
  return fmt::format("{}", s.f);
}

std::string attr_str(const Node& n) {
  return std::visit(
      [&](const auto& a) -> std::string {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, ConstAttr>)
          return "{value=" + scalar_str(a.value, n.dtype) + (a.param ? ", param}" : "}");
        if constexpr (std::is_same_v<A, AxesAttr>)
          return fmt::format("{{axes=[{}]}}", fmt::join(a.axes, ","));
        if constexpr (std::is_same_v<A, PermuteAttr>)
          return fmt::format("{{perm=[{}]}}", fmt::join(a.perm, ","));
        if constexpr (std::is_same_v<A, SliceAttr>)
          return fmt::format("{{start=[{}], step=[{}]}}", fmt::join(a.start, ","),
                             fmt::join(a.step, ","));
        if constexpr (std::is_same_v<A, PadAttr>) {
          DType vt = n.inputs.empty() ? n.dtype : n.inputs[0]->dtype;
          return fmt::format("{{before=[{}], value={}}}", fmt::join(a.before, ","),
                             scalar_str(a.value, vt));
        }
        return "";
      },
      n.attr);
}

std::string node_origin(const Node& n) {
  if (n.loc.line() == 0) return n.label ? n.label : "";
  return fmt::format("{}:{}{}{}", n.loc.file_name(), n.loc.line(), n.label ? " " : "",
                     n.label ? n.label : "");
}

namespace {

// "[?64, 784]": a '?' before each extent that follows the size kiln::mark_dynamic marked, as
// resize_graph makes it follow (only the marked axis itself where the graph does not resize).
class ShapePrinter {
public:
  explicit ShapePrinter(const std::vector<Node*>& roots) : resized_(resize_marked(roots)) {}
  std::string operator()(const Node& n) const {
    if (!resized_ && n.dynamic_axis < 0) return shape_str(n.shape);
    const Node* copy = resized_ ? resized_->copy_of.at(&n) : nullptr;
    std::vector<std::string> dims;
    for (size_t i = 0; i < n.shape.size(); ++i) {
      bool follows = copy ? copy->shape[i] != n.shape[i] : static_cast<int>(i) == n.dynamic_axis;
      dims.push_back(fmt::format("{}{}", follows ? "?" : "", n.shape[i]));
    }
    return fmt::format("[{}]", fmt::join(dims, ", "));
  }

private:
  std::optional<ResizedGraph> resized_;
};

} // namespace

std::string print_graph(const std::vector<Node*>& roots, GraphPrintOptions opts) {
  std::string out;
  std::unordered_map<const Node*, int> id;
  ShapePrinter shape_text(roots);
  for (Node* n : topo_order(roots, /*stop_at_realized=*/true)) {
    int k = static_cast<int>(id.size());
    id[n] = k;
    std::string line = fmt::format(
        "%{} = {}", k, n->realized() && n->op != Op::Buffer ? "buffer" : op_name(n->op));
    if (!n->realized()) {
      for (size_t i = 0; i < n->inputs.size(); ++i)
        line += fmt::format("{}%{}", i ? ", " : " ", id.at(n->inputs[i].get()));
      std::string a = attr_str(*n);
      if (!a.empty()) line += " " + a;
    }
    line += fmt::format(" : {}{}", dtype_name(n->dtype), shape_text(*n));
    if (std::string o = opts.source_locations ? node_origin(*n) : ""; !o.empty())
      line += "  # " + o;
    out += line + "\n";
  }
  std::vector<std::string> rs;
  for (Node* r : roots) rs.push_back(fmt::format("%{}", id.at(r)));
  out += fmt::format("return {}\n", fmt::join(rs, ", "));
  return out;
}

} // namespace kiln
