#include "codegen/host/host_backend.h"

#include "codegen/host/allocator.h"
#include "codegen/host/thread_pool.h"

#include <algorithm>
#include <cstring>

namespace kiln {

std::shared_ptr<Storage> HostBackend::allocate(size_t bytes) const { return cpu_alloc(bytes); }

void HostBackend::copy_to_host(void* dst, const Storage& src, size_t bytes) const {
  std::memcpy(dst, src.data, bytes);
}

void HostBackend::copy_from_host(Storage& dst, const void* src, size_t bytes) const {
  std::memcpy(dst.data, src, bytes);
}

RowSplit RowSplit::of(const Kernel& k, bool one_range_per_thread) {
  return of(concrete(k.domain), k.inner_size(), one_range_per_thread);
}

RowSplit RowSplit::of(const std::vector<int64_t>& domain, int64_t inner_size,
                      bool one_range_per_thread) {
  RowSplit s;
  int64_t size = numel(domain);
  if (size == 0) return s;
  s.rows = domain.empty() ? 1 : domain[0];
  // Each piece gets at least ~32K scalar iterations.
  int64_t per_row = std::max<int64_t>(1, size / s.rows * inner_size);
  s.min_chunk = (32768 + per_row - 1) / per_row;
  s.one_range_per_thread = one_range_per_thread;
  return s;
}

std::vector<int64_t> i64_params(const Kernel& k, void* const* args) {
  std::vector<int64_t> p(k.params.size(), 0);
  for (size_t i = 0; i < p.size(); ++i)
    if (k.params[i] == DType::I64) p[i] = *static_cast<const int64_t*>(args[k.args.size() + i]);
  return p;
}

KernelSplit::KernelSplit(const Kernel& k, bool one_range_per_thread)
    : one_range_per_thread_(one_range_per_thread) {
  if (k.symbolic())
    symbolic_ = k;
  else
    fixed_ = RowSplit::of(k, one_range_per_thread);
}

RowSplit KernelSplit::at(void* const* args) const {
  if (fixed_) return *fixed_;
  std::vector<int64_t> p = i64_params(symbolic_, args);
  int64_t inner = 0;
  for (auto& s : symbolic_.stages) inner += numel(sym_values(s, p));
  return RowSplit::of(sym_values(symbolic_.domain, p), std::max<int64_t>(inner, 1),
                      one_range_per_thread_);
}

void run_rows(const RowSplit& s, const std::function<void(int64_t, int64_t)>& rows) {
  // The thread count may change between launches (kiln::set_num_threads).
  int64_t min_chunk =
      s.one_range_per_thread ? std::max<int64_t>(1, s.rows / num_threads()) : s.min_chunk;
  parallel_for(s.rows, min_chunk, rows);
}

} // namespace kiln
