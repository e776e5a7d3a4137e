#include "codegen/host/allocator.h"

#include "ir/error.h"
#include "ir/shape.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <vector>

namespace kiln {
namespace {

constexpr size_t kHugePage = 2u << 20;
constexpr size_t kMaxCached = size_t(8) << 30; // cap on idle bytes kept for reuse

// RAM plus swap, or 0 when unknown. Every byte of a buffer is written, so a larger one can only
// end in the OOM killer (or a sanitizer's abort): it is refused instead of asked for.
size_t machine_memory() {
  static const size_t bytes = [] {
    struct sysinfo si;
    if (::sysinfo(&si) != 0) return size_t(0);
    return (size_t(si.totalram) + si.totalswap) * si.mem_unit;
  }();
  return bytes;
}

// Rounds sizes to classes (multiples of 64 B, then 1/8 steps of a power of two) so a buffer
// freed by one step fits the same request of the next.
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  size_t p = 1;
  while (p < bytes) p <<= 1;
  size_t step = std::max<size_t>(p / 8, 4096);
  return (bytes + step - 1) / step * step;
}

class Pool {
public:
  void* take(size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use += cls;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= cls;
      ++stats_.reuses;
      return p;
    }
    ++stats_.fresh_allocations;
    return nullptr;
  }
  // Undoes take() when the fresh allocation it asked for failed.
  void untake(size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= cls;
    --stats_.fresh_allocations;
  }
  // Returns false when the pool is full and the caller should free the memory.
  bool give(void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= cls;
    if (stats_.bytes_cached + cls > kMaxCached) return false;
    free_[cls].push_back(p);
    stats_.bytes_cached += cls;
    return true;
  }
  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [cls, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    stats_.bytes_cached = 0;
  }

private:
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

Pool& pool() {
  static Pool* p = new Pool; // leaked on purpose: storages may die during static destruction
  return *p;
}

struct CpuStorage : Storage {
  size_t cls = 0;
  ~CpuStorage() override {
    if (data && !pool().give(data, cls)) std::free(data);
  }
};

} // namespace

std::shared_ptr<Storage> cpu_alloc(size_t bytes) {
  // Also keeps size_class() and the alignment round-up below from overflowing.
  if (bytes >= static_cast<size_t>(kMaxTensorBytes))
    fail("alloc", "cannot allocate {} bytes (expected less than 2^62)", bytes);
  if (size_t mem = machine_memory(); mem && bytes > mem)
    fail("alloc", "cannot allocate {} bytes: more than this machine's {} bytes of RAM and swap",
         bytes, mem);
  auto s = std::make_shared<CpuStorage>();
  s->cls = size_class(std::max<size_t>(bytes, 1));
  s->bytes = bytes;
  s->data = pool().take(s->cls);
  if (!s->data) {
    size_t align = s->cls >= kHugePage ? kHugePage : 64;
    s->data = std::aligned_alloc(align, (s->cls + align - 1) / align * align);
    if (!s->data) {
      pool().untake(s->cls);
      fail("alloc", "out of memory allocating {} bytes", bytes);
    }
    if (align == kHugePage) madvise(s->data, s->cls, MADV_HUGEPAGE);
  }
  return s;
}

AllocatorStats allocator_stats() { return pool().stats(); }
void allocator_release_cached() { pool().release(); }

} // namespace kiln
