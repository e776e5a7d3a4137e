// Parser for the graph-IR text that print_graph() emits (print -> parse -> print is identical).
#pragma once
#include "ir/node.h"

#include <functional>
#include <string_view>

namespace kiln {

// Storage for a `buffer` line. The default is zero-filled, page-aligned host memory whose pages
// exist only once touched, so a buffer that is never read costs nothing (ir/ cannot use the
// runtime's allocator); the runtime or a tool may pass its own.
using StorageFactory = std::function<std::shared_ptr<Storage>(DType, const Shape&)>;
std::shared_ptr<Storage> zeroed_host_storage(DType t, const Shape& s);

struct GraphParseOptions {
  std::string_view source_name = "<input>"; // the file name in error messages
  StorageFactory make_storage;              // empty: zeroed_host_storage
  bool verify = true; // check each node as it is read (the passes assume well-formed graphs)
};

struct ParsedGraph {
  std::vector<NodePtr> outputs; // the `return` values, in order
  std::vector<NodePtr> nodes;   // every node, in text order
  std::vector<Node*> roots() const;
};

// Lines: `%name = op %in, ... {attrs} : dtype[shape]  # comment`, then `return %a, ...`. Blank and
// whole-line '#' comment lines are skipped (KILN_DUMP headers may stay in). A trailing comment
// (the printer's "file:line label") becomes the node's label, so passes carry it along and the
// printer writes it back. Throws kiln::Error "[parse] name:line:col: expected ..." on bad text.
ParsedGraph parse_graph(std::string_view text, const GraphParseOptions& opts = {});

} // namespace kiln
