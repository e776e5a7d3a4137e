// Common-subexpression elimination: structurally equal nodes (same op, dtype, shape, attribute
// and the same input nodes) become one, bottom-up, so equal subtrees of any depth merge.
#include "passes/simplify.h"

#include <unordered_map>

namespace kiln {

Graph eliminate_common_subexpressions(const Graph& g) {
  std::unordered_multimap<uint64_t, NodePtr> seen;
  return rewrite(g, [&](const NodePtr& n) -> NodePtr {
    uint64_t h = hash_combine(static_cast<uint64_t>(n->op), hash_attr(n->attr));
    for (auto& in : n->inputs) h = hash_combine(h, reinterpret_cast<uintptr_t>(in.get()));
    auto [lo, hi] = seen.equal_range(h);
    for (auto it = lo; it != hi; ++it) {
      const Node& m = *it->second;
      if (m.op == n->op && m.dtype == n->dtype && m.shape == n->shape && m.attr == n->attr &&
          m.inputs == n->inputs)
        return it->second;
    }
    seen.emplace(h, n);
    return n;
  });
}

} // namespace kiln
