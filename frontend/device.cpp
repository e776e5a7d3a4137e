// Devices in the frontend: moving a tensor with to(), and whether CUDA is here.
#include "codegen/backend.h"
#include "kiln/runtime_api.h"
#include "trace.h"

namespace kiln {

Tensor Tensor::to(Device device, Loc loc) const {
  trace::require(*this, "to", loc);
  if (this->device() == device) return *this;
  // Through the host: the runtime copies it onto the GPU when a program there reads it.
  return Tensor(make_buffer_node(dtype(), shape(), trace::host_storage(*this), loc, device));
}

namespace cuda {

int device_count() {
  const Backend* b = find_backend("cuda");
  return b ? b->device_count() : 0;
}

bool is_available() { return device_count() > 0; }

} // namespace cuda
} // namespace kiln
