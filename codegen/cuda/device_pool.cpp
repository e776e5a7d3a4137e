#include "codegen/cuda/device_pool.h"

#include <bit>

namespace kiln::cuda {

size_t DevicePool::size_class(size_t bytes) {
  constexpr size_t kSmallest = 512, kLargeStep = size_t{2} << 20;
  if (bytes <= kSmallest) return kSmallest;
  if (bytes <= (size_t{1} << 20)) return std::bit_ceil(bytes);
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

uint64_t DevicePool::take(size_t bytes) {
  size_t cls = size_class(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_lists_[cls];
    if (!list.empty()) {
      uint64_t b = list.back();
      list.pop_back();
      stats_.bytes_cached -= cls;
      stats_.bytes_in_use += cls;
      ++stats_.reuses;
      return b;
    }
  }
  uint64_t b = alloc_(cls);
  if (!b) {
    release_cached();
    b = alloc_(cls);
    if (!b) return 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.bytes_in_use += cls;
  ++stats_.fresh;
  return b;
}

void DevicePool::give(uint64_t block, size_t bytes) {
  size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_lists_[cls].push_back(block);
  stats_.bytes_in_use -= cls;
  stats_.bytes_cached += cls;
}

void DevicePool::release_cached() {
  std::map<size_t, std::vector<uint64_t>> lists;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lists.swap(free_lists_);
    stats_.bytes_cached = 0;
  }
  for (auto& [cls, blocks] : lists)
    for (uint64_t b : blocks) free_(b);
}

DevicePool::Stats DevicePool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

} // namespace kiln::cuda
