// A caching allocator for device memory: freed blocks wait on a free list per size class and
// are reused by later allocations of that class (cuMemAlloc and cuMemFree synchronize the device
// and cost far more than a kernel). When the device runs out of memory the cached blocks are
// returned and the allocation tried once more.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace kiln::cuda {

class DevicePool {
public:
  using Alloc = std::function<uint64_t(size_t)>; // 0 when out of memory
  using Free = std::function<void(uint64_t)>;
  DevicePool(Alloc alloc, Free free) : alloc_(std::move(alloc)), free_(std::move(free)) {}

  // Up to 1 MiB: the next power of two (at least 512 bytes); above: a multiple of 2 MiB. Blocks of
  // one class are interchangeable, and at most a half (small) or 2 MiB (large) is wasted.
  static size_t size_class(size_t bytes);

  // A block of at least `bytes` (its class: size_class(bytes)); 0 when the device has no room
  // even after the cache is emptied.
  uint64_t take(size_t bytes);
  void give(uint64_t block, size_t bytes); // `bytes` as passed to take()
  void release_cached();                   // frees every cached block

  struct Stats {
    size_t bytes_in_use = 0, bytes_cached = 0, fresh = 0, reuses = 0;
  };
  Stats stats() const;

private:
  Alloc alloc_;
  Free free_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<uint64_t>> free_lists_; // by class
  Stats stats_;
};

} // namespace kiln::cuda
