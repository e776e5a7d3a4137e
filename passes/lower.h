// Lowering: a group of graph nodes sharing one iteration domain -> one kernel-IR kernel.
#pragma once
#include "ir/kernel.h"

#include <functional>

namespace kiln {

struct LoweredKernel {
  Kernel kernel;
  std::vector<Node*> args; // the node whose buffer binds each kernel argument
};

// Lowers `roots` (all of one shape) into one kernel. Nodes for which is_boundary() holds (and
// realized nodes) are read from buffers; everything else between is inlined: views become index
// arithmetic, elementwise ops scalar instructions, at most one reduction or matmul the reduce loop.
LoweredKernel lower_kernel(const std::vector<Node*>& roots, const std::function<bool(Node*)>& is_boundary);

} // namespace kiln
