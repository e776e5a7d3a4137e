// Graph rewriting: rebuild a graph bottom-up through a rule. Nodes are immutable, so a rewrite
// creates new nodes; realized nodes (the program's inputs) and parameters are never replaced.
#pragma once
#include "ir/node.h"

#include <functional>
#include <string_view>

namespace kiln {

struct Graph {
  std::vector<NodePtr> outputs;
  std::vector<Node*> raw() const;
};

// A rule sees each node after its inputs were rewritten and returns its replacement (or itself).
using Rule = std::function<NodePtr(const NodePtr&)>;
Graph rewrite(const Graph& g, const Rule& rule);
// The same, with the node of the input graph it rewrites (for facts about the input graph, such
// as a node's users).
using RuleWithOrigin = std::function<NodePtr(const NodePtr& node, const Node& origin)>;
Graph rewrite(const Graph& g, const RuleWithOrigin& rule);

// A copy of n with other inputs (same op, dtype, shape, attribute, source location and label).
NodePtr with_inputs(const Node& n, std::vector<NodePtr> inputs);
// A new node that keeps n's source location and label (so dumps still point at the user's line).
NodePtr derived(const Node& n, Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs,
                Attr attr = {});

bool is_param(const Node& n);
// The baked literal behind a const or a view of one (expand/reshape of a 0-d const), if any.
const Scalar* literal(const Node& n);

struct GraphPass {
  std::string_view name, summary;
  std::function<Graph(const Graph&)> run;
};

} // namespace kiln
