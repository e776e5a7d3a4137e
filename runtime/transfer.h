// Moving a realized value between devices, through host memory.
#pragma once
#include "ir/storage.h"

#include <memory>

namespace kiln {

// `s` itself when it is on `d` already, else a copy there (allocated and copied by the backends
// of both devices). Throws kiln::Error when a device cannot be used (no CUDA device here).
std::shared_ptr<Storage> to_device(std::shared_ptr<Storage> s, Device d);

} // namespace kiln
