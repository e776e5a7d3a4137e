// A copy of a graph with one size changed: a second lowering of a structure before a second size
// arrives (kiln::mark_dynamic, runtime/size_family.h) and the "?" dimensions the graph printer
// shows.
#pragma once
#include "ir/node.h"

#include <optional>
#include <string>
#include <unordered_map>

namespace kiln {

struct ResizedGraph {
  std::vector<NodePtr> roots;                           // in the order of the roots given
  std::unordered_map<const Node*, const Node*> copy_of; // every node of the walk to its copy
  int64_t from = 0, to = 0;                             // the size changed, and to what
};

// The graph under `roots` (realized nodes are leaves) with the size `from` (at least 2) changed
// to `to`, the smallest size above `from` and `above` that no dimension has (so that only what
// follows `from` changes).
// Sizes follow by value, as TorchDynamo's duck sizing does: every dimension equal to
// `from` becomes `to`; a reshape whose element count then disagrees with its input's scales its
// first dimension that is a multiple k*from to k*to, and that dimension follows from then on; a
// slice or a pad keeps its difference to its input where the input changed, except a slice that
// starts at s or s-1 for a size s >= 5 that follows (the last row), whose start follows; a literal
// s, s-1, n/s or n/(s-1) for n in {1, -1, 2, -2} and a size s that follows (a mean's count or 1/s,
// an unbiased variance's) follows too where s is at least 5 (0.5 or 1 are constants more often). A
// leaf whose shape changes is a zeroed host buffer. The copy is only a guess at what the program
// would trace at `to`: use it as a sample to generalise from, never to compute values. nullopt,
// with *why (when given) naming the node, when a copied node is malformed.
std::optional<ResizedGraph> resize_graph(const std::vector<Node*>& roots, int64_t from,
                                         std::string* why = nullptr, int64_t above = 0);

// The first node of `order` marked by kiln::mark_dynamic, if any.
const Node* first_marked(const std::vector<Node*>& order);
// resize_graph from the size of the first marked node under roots. Never throws: nullopt when
// nothing is marked, or the size is 0 or 1 (which no other size follows by value), or the copy is
// malformed; *why (when given) then says which.
std::optional<ResizedGraph> resize_marked(const std::vector<Node*>& roots,
                                          std::string* why = nullptr, int64_t above = 0);

} // namespace kiln
