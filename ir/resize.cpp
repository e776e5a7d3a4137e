#include "ir/resize.h"

#include "ir/error.h"
#include "ir/graph_parser.h"
#include "ir/verifier.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <unordered_set>

namespace kiln {
namespace {

// Old sizes to new ones, grown as reshapes and slices reveal sizes that follow `from`.
using SizeMap = std::map<int64_t, int64_t>; // ordered: literals follow the same size every run

int64_t follow(const SizeMap& m, int64_t d) {
  auto it = m.find(d);
  return it == m.end() ? d : it->second;
}

// A reshape's input changed its element count: its first dimension k*from (k > 1) becomes k*to
// where that makes the counts agree again.
void rescale_reshape(Shape& shape, const Node& n, int64_t in_numel, int64_t from, int64_t to,
                     SizeMap& m) {
  for (size_t i = 0; i < shape.size() && numel(shape) != in_numel; ++i) {
    int64_t d = n.shape[i];
    if (d <= from || d % from != 0 || m.count(d)) continue;
    Shape trial = shape;
    trial[i] = d / from * to;
    if (numel(trial) != in_numel) continue;
    m[d] = trial[i];
    shape = std::move(trial);
  }
}

// A start s or s-1 for a followed size s >= 5, at the new size (the last row's slice starts at
// T-1 at every T).
std::optional<int64_t> follow_start(const SizeMap& m, int64_t start) {
  if (start < 4) return std::nullopt;
  if (auto it = m.find(start); it != m.end()) return it->second;
  if (auto it = m.find(start + 1); it != m.end()) return it->second - 1;
  return std::nullopt;
}

// A slice or pad whose input changed along an axis keeps its output's difference to the input,
// unless it is a slice whose start follows the size (then its extent stays).
void keep_difference(Shape& shape, Attr& attr, const Node& n, const Shape& in_new, SizeMap& m) {
  const Shape& in_old = n.inputs[0]->shape;
  auto* slice = std::get_if<SliceAttr>(&attr);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (in_old[i] == in_new[i]) continue;
    if (slice && slice->step[i] == 1)
      if (auto start = follow_start(m, slice->start[i])) {
        slice->start[i] = *start;
        continue;
      }
    int64_t d = in_new[i] + (n.shape[i] - in_old[i]);
    if (d < 0) continue;
    shape[i] = d;
    m.emplace(n.shape[i], d);
  }
}

// A literal that is a followed size s, s-1, or n/s, n/(s-1) for n in {±1, ±2}, at the new size
// (where s >= 5).
Scalar follow_literal(const Scalar& value, DType t, const SizeMap& m) {
  if (!is_float(t) && t != DType::I32 && t != DType::I64) return value;
  for (auto [old_size, new_size] : m) {
    if (old_size < 5 || new_size < 5) continue; // 1 = 2/(3-1) is more likely a constant
    for (int64_t minus : {0, 1}) {
      double q_old = static_cast<double>(old_size - minus), q_new = double(new_size - minus);
      if (Scalar::of(t, q_old) == value) return Scalar::of(t, q_new);
      if (!is_float(t)) continue;
      for (double n : {1.0, -1.0, 2.0, -2.0})
        if (Scalar::of(t, n / q_old) == value) return Scalar::of(t, n / q_new);
    }
  }
  return value;
}

} // namespace

std::optional<ResizedGraph> resize_graph(const std::vector<Node*>& roots, int64_t from,
                                         std::string* why, int64_t above) {
  if (from < 2) fail("resize", "size {}: 0 and 1 follow no other size (expected at least 2)", from);
  std::vector<Node*> order = topo_order(roots, /*stop_at_realized=*/true);
  std::unordered_set<int64_t> taken;
  for (Node* n : order) taken.insert(n->shape.begin(), n->shape.end());
  ResizedGraph g;
  g.from = from;
  g.to = std::max(from, above) + 1;
  while (taken.count(g.to)) ++g.to;
  const int64_t to = g.to;
  SizeMap m{{from, to}};
  std::unordered_map<const Node*, NodePtr> copy;
  for (Node* n : order) {
    Shape shape;
    for (int64_t d : n->shape) shape.push_back(follow(m, d));
    NodePtr c;
    if (n->realized()) {
      c = shape == n->shape
              ? n->shared_from_this()
              : make_buffer_node(n->dtype, shape, zeroed_host_storage(n->dtype, shape), n->loc,
                                 n->device);
    } else {
      std::vector<NodePtr> inputs;
      for (auto& in : n->inputs) inputs.push_back(copy.at(in.get()));
      Attr attr = n->attr;
      if (n->op == Op::Reshape) rescale_reshape(shape, *n, inputs[0]->numel(), from, to, m);
      if (n->op == Op::Slice || n->op == Op::Pad)
        keep_difference(shape, attr, *n, inputs[0]->shape, m);
      if (n->op == Op::Const) {
        auto& ca = std::get<ConstAttr>(attr);
        if (!ca.param) ca.value = follow_literal(ca.value, n->dtype, m);
      }
      c = make_node(n->op, n->dtype, std::move(shape), std::move(inputs), std::move(attr), n->loc,
                    n->device);
      if (std::string err = verify_node(*c); !err.empty()) {
        if (why)
          *why = fmt::format("{} {} at size {} instead of {}: {}", op_name(n->op),
                             shape_str(n->shape), to, from, err);
        return std::nullopt;
      }
    }
    c->dynamic_axis = n->dynamic_axis;
    g.copy_of[n] = c.get();
    copy[n] = std::move(c);
  }
  for (Node* r : roots) g.roots.push_back(copy.at(r));
  return g;
}

const Node* first_marked(const std::vector<Node*>& order) {
  for (const Node* n : order)
    if (n->dynamic_axis >= 0) return n;
  return nullptr;
}

std::optional<ResizedGraph> resize_marked(const std::vector<Node*>& roots, std::string* why,
                                          int64_t above) {
  const Node* m = first_marked(topo_order(roots, /*stop_at_realized=*/true));
  if (!m) {
    if (why) *why = "no size is marked";
    return std::nullopt;
  }
  int64_t size = m->shape[m->dynamic_axis];
  if (size < 2) {
    if (why) *why = fmt::format("the marked size is {}", size);
    return std::nullopt;
  }
  try {
    return resize_graph(roots, size, why, above);
  } catch (const Error& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
}

} // namespace kiln
