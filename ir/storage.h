// Storage: the memory behind a realized node. Devices/allocators subclass it in runtime/.
#pragma once
#include <cstddef>

namespace kiln {

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  virtual ~Storage() = default;
};

} // namespace kiln
