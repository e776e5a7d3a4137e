// What the CPU backends (LLVM, the kernel-IR interpreter) share: host memory from the caching
// allocator, and launches that split the outermost domain loop over the thread pool.
#pragma once
#include "codegen/backend.h"

#include <functional>
#include <optional>

namespace kiln {

class HostBackend : public Backend {
public:
  Device device() const override { return Device::cpu(); }
  std::shared_ptr<Storage> allocate(size_t bytes) const override;
  void copy_to_host(void* dst, const Storage& src, size_t bytes) const override;
  void copy_from_host(Storage& dst, const void* src, size_t bytes) const override;
};

// How a kernel's outermost loop splits into pieces for the thread pool (fixed when it loads).
struct RowSplit {
  int64_t rows = 0;      // iterations of the outermost loop; 0 when the domain is empty
  int64_t min_chunk = 1; // rows per piece at least
  // A packed GEMM runs one range per thread (of whole batches when the outer loop is a batch
  // loop): each call packs the operand panels it needs, so more pieces would pack them more
  // often (it gives up taking pieces in turn from a slow core).
  bool one_range_per_thread = false;

  static RowSplit of(const Kernel& k, bool one_range_per_thread); // of a concrete kernel
  // Of a domain with inner_size iterations of its stages per outer point.
  static RowSplit of(const std::vector<int64_t>& domain, int64_t inner_size,
                     bool one_range_per_thread);
};

// The values of a kernel's i64 parameters at one launch (0 for the others; args as
// Backend::launch takes them): a symbolic kernel's sizes follow from them.
std::vector<int64_t> i64_params(const Kernel& k, void* const* args);

// A kernel's RowSplit: fixed when it loads, a symbolic kernel's at each launch.
class KernelSplit {
public:
  KernelSplit(const Kernel& k, bool one_range_per_thread);
  RowSplit at(void* const* args) const;

private:
  std::optional<RowSplit> fixed_;
  Kernel symbolic_; // its extents, when not fixed
  bool one_range_per_thread_;
};

// Calls rows(begin, end) over [0, s.rows) in pieces spread over the thread pool; returns when all
// are done.
void run_rows(const RowSplit& s, const std::function<void(int64_t, int64_t)>& rows);

} // namespace kiln
