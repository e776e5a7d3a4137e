// Storage: the memory behind a realized node. Each backend's allocator subclasses it.
#pragma once
#include "ir/device.h"

#include <cstddef>

namespace kiln {

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device; // where data points: host memory for the CPU, device memory for a GPU
  virtual ~Storage() = default;
};

} // namespace kiln
