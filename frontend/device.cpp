// Devices in the frontend: moving a tensor with to(), and whether CUDA is here.
#include "codegen/backend.h"
#include "kiln/runtime_api.h"
#include "trace.h"

namespace kiln {

// Lazy like every op: realize moves the value between the devices' programs (through the host;
// onto a GPU only when a program there reads it), and gradients flow back through the transfer.
Tensor Tensor::to(Device device, Loc loc) const {
  trace::require(*this, "to", loc);
  if (this->device() == device) return *this;
  NodePtr n = make_transfer_node(node(), device, loc);
  n->label = "to";
  n->requires_grad = node()->requires_grad && !NoGradGuard::active();
  return Tensor(std::move(n));
}

namespace cuda {

int device_count() {
  const Backend* b = find_backend("cuda");
  return b ? b->device_count() : 0;
}

bool is_available() { return device_count() > 0; }

} // namespace cuda
} // namespace kiln
