// Reference interpreter: plain C++ loops, node by node. The correctness oracle for codegen.
#pragma once
#include "ir/node.h"

#include <functional>

namespace kiln {

// How the interpreter reads a leaf's value not in host memory: a copy on the host.
using ToHost = std::function<std::shared_ptr<Storage>(std::shared_ptr<Storage>)>;

// Evaluates roots on the host without compiling anything and without touching the nodes' own
// storage. A leaf on a GPU is read through to_host (without one: a kiln::Error). (Not
// runtime/transfer.h itself: the GPU check tool links this file without the backends.)
std::vector<std::shared_ptr<Storage>> interpret(const std::vector<Node*>& roots,
                                                const ToHost& to_host = {});

} // namespace kiln
