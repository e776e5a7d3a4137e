#include "ir/verifier.h"

#include "ir/error.h"
#include "ir/graph_printer.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln {
namespace {

std::string check_elementwise(const Node& n) {
  for (auto& in : n.inputs)
    if (in->shape != n.shape)
      return "elementwise input shape " + shape_str(in->shape) + " != output";
  DType a = n.inputs[0]->dtype;
  switch (op_category(n.op)) {
  case OpCategory::Unary:
    if (n.op == Op::Cast) return "";
    if (n.op == Op::LogicalNot) return n.dtype == DType::Bool ? "" : "logical_not must give bool";
    return n.dtype == a ? "" : "unary op changes dtype";
  case OpCategory::Binary:
    if (n.inputs[1]->dtype != a) return "binary inputs differ in dtype";
    if (is_comparison(n.op) || n.op == Op::LogicalAnd || n.op == Op::LogicalOr)
      return n.dtype == DType::Bool ? "" : "comparison must give bool";
    return n.dtype == a ? "" : "binary op changes dtype";
  default:
    if (a != DType::Bool) return "where condition must be bool";
    if (n.inputs[1]->dtype != n.dtype || n.inputs[2]->dtype != n.dtype) return "where branch dtype";
    return "";
  }
}

std::string check_reduce(const Node& n) {
  const Node& in = *n.inputs[0];
  auto& axes = n.get<AxesAttr>().axes;
  if (in.shape.size() != n.shape.size()) return "reduce must keep rank";
  for (size_t d = 0; d < n.shape.size(); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), static_cast<int>(d)) != axes.end();
    if (n.shape[d] != (reduced ? 1 : in.shape[d])) return "reduce output shape";
  }
  for (int a : axes)
    if (a < 0 || a >= static_cast<int>(n.shape.size())) return "reduce axis out of range";
  bool arg = n.op == Op::ArgMax || n.op == Op::ArgMin;
  if (arg && (axes.size() != 1 || n.dtype != DType::I64)) return "argmax/argmin: one axis, i64";
  if (!arg && n.dtype != in.dtype) return "reduce changes dtype";
  return "";
}

std::string check_movement(const Node& n) {
  const Node& in = *n.inputs[0];
  if (n.dtype != in.dtype) return "view changes dtype";
  size_t r = n.shape.size();
  switch (n.op) {
  case Op::Reshape:
    return numel(n.shape) == numel(in.shape) ? "" : "reshape changes numel";
  case Op::Permute: {
    auto perm = n.get<PermuteAttr>().perm;
    if (perm.size() != r || in.shape.size() != r) return "permute rank";
    for (size_t d = 0; d < r; ++d)
      if (perm[d] < 0 || perm[d] >= (int)r || n.shape[d] != in.shape[perm[d]])
        return "permute shape";
    return "";
  }
  case Op::Expand: { // NumPy broadcasting: dims align at the right, new dims lead
    if (in.shape.size() > r) return "expand rank";
    size_t lead = r - in.shape.size();
    for (size_t d = 0; d < in.shape.size(); ++d)
      if (in.shape[d] != n.shape[lead + d] && in.shape[d] != 1) return "expand of a non-1 dim";
    return "";
  }
  case Op::Slice: {
    auto& s = n.get<SliceAttr>();
    if (s.start.size() != r || s.step.size() != r || in.shape.size() != r) return "slice rank";
    for (size_t d = 0; d < r; ++d) {
      if (s.step[d] == 0) return "slice step 0";
      if (n.shape[d] == 0) continue;
      int64_t last = s.start[d] + (n.shape[d] - 1) * s.step[d];
      if (s.start[d] < 0 || s.start[d] >= in.shape[d] || last < 0 || last >= in.shape[d])
        return "slice out of range";
    }
    return "";
  }
  default: {
    auto& p = n.get<PadAttr>();
    if (p.before.size() != r || in.shape.size() != r) return "pad rank";
    for (size_t d = 0; d < r; ++d)
      if (p.before[d] < 0 || n.shape[d] < in.shape[d] + p.before[d]) return "pad shape";
    return "";
  }
  }
}

std::string check_matmul(const Node& n) {
  const Shape &a = n.inputs[0]->shape, &b = n.inputs[1]->shape;
  size_t r = n.shape.size();
  if (r < 2 || a.size() != r || b.size() != r) return "matmul rank";
  if (!std::equal(a.begin(), a.end() - 2, b.begin()) ||
      !std::equal(a.begin(), a.end() - 2, n.shape.begin()))
    return "matmul batch dims";
  if (a[r - 1] != b[r - 2] || n.shape[r - 2] != a[r - 2] || n.shape[r - 1] != b[r - 1])
    return "matmul inner dims";
  if (n.inputs[0]->dtype != n.dtype || n.inputs[1]->dtype != n.dtype) return "matmul dtype";
  return "";
}

} // namespace

std::string verify_node(const Node& n) {
  for (int64_t d : n.shape)
    if (d < 0) return "negative extent";
  if (n.realized()) return ""; // a leaf: it may have let go of its inputs (runtime/realize.cpp)
  int arity = op_arity(n.op);
  if (arity >= 0 && static_cast<int>(n.inputs.size()) != arity) return "wrong number of inputs";
  switch (op_category(n.op)) {
  case OpCategory::Leaf:
    if (n.op == Op::Const && !n.shape.empty()) return "const must be 0-d";
    return n.op == Op::Buffer ? "unrealized buffer" : "";
  case OpCategory::Unary:
  case OpCategory::Binary:
  case OpCategory::Ternary:
    return check_elementwise(n);
  case OpCategory::Reduce:
    return check_reduce(n);
  case OpCategory::Movement:
    return check_movement(n);
  case OpCategory::Contraction:
    return check_matmul(n);
  case OpCategory::Kernel:
    return "kernel-IR op in graph IR";
  }
  return "";
}

void verify_graph(const std::vector<Node*>& roots, std::string_view stage) {
  for (Node* n : topo_order(roots, /*stop_at_realized=*/true)) {
    std::string err = verify_node(*n);
    if (!err.empty())
      fail("verify", "after {}: {} {} : {}{}: {}", stage, op_name(n->op), attr_str(*n),
           dtype_name(n->dtype), shape_str(n->shape), err);
  }
}

} // namespace kiln
