// Lowering: a group of graph nodes sharing one iteration domain -> one kernel-IR kernel.
#pragma once
#include "ir/kernel.h"

#include <functional>
#include <stdexcept>

namespace kiln {

struct LoweredKernel {
  Kernel kernel;
  std::vector<Node*> args;   // the node whose buffer binds each kernel argument
  std::vector<Node*> params; // the parameter literal behind each kernel parameter
};

// Thrown when an inlined node cannot live in the kernel (a reduction that would be recomputed
// per output element, or whose loop would nest in another stage): the scheduler then makes
// `node` a kernel output of its own and retries.
struct FusionConflict : std::runtime_error {
  Node* node;
  FusionConflict(Node* n, const std::string& why) : std::runtime_error(why), node(n) {}
};

// Lowers `roots` (all of one shape) into one kernel. Nodes for which is_boundary() holds (and
// realized nodes) are read from buffers; everything between is inlined: views become index
// arithmetic, elementwise ops scalar instructions, reductions and matmuls stages of inner loops.
// When the roots have the shape of a fused reduction's input (softmax), the reduced axes become
// a final map stage, so the outer loops run over rows.
LoweredKernel lower_kernel(const std::vector<Node*>& roots,
                           const std::function<bool(Node*)>& is_boundary);

} // namespace kiln
