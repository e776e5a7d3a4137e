// Reference interpreter: plain C++ loops, node by node. The correctness oracle for codegen.
#pragma once
#include "ir/node.h"

namespace kiln {

// Evaluates roots without compiling anything and without touching the nodes' own storage.
std::vector<std::shared_ptr<Storage>> interpret(const std::vector<Node*>& roots);

} // namespace kiln
