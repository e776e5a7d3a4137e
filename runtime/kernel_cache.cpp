// Kernel cache lookups: in memory, then on disk (runtime/disk_cache.h), then the backend's compile.
#include "runtime/kernel_cache.h"

#include "codegen/host/thread_pool.h"
#include "ir/error.h"
#include "runtime/config.h"
#include "runtime/disk_cache.h"
#include "runtime/dump.h"
#include "runtime/profile.h"
#include "runtime/stats.h"

#include <exception>
#include <fmt/format.h>
#include <future>
#include <mutex>
#include <unordered_map>

namespace kiln {
namespace {

// The kernel text and everything else its native code depends on (DESIGN.md "Kernel cache").
std::string disk_key(const Backend& b, const std::string& kernel_text) {
  return fmt::format("kiln kernel cache format {}\n{}\nkiln build {}\n{}", kDiskCacheFormat,
                     b.cache_key(), kiln_build_id(), kernel_text);
}

// The kernel from the disk cache, or nullptr on a miss.
std::shared_ptr<const Executable> load_from_disk(const Backend& b, const Kernel& k,
                                                 const std::string& key) {
  disk_cache::Lookup e = disk_cache::load(key, k.name);
  if (e.status == disk_cache::Status::Hit) {
    try {
      auto exe = b.load(k, e.payload);
      ++mutable_stats().disk_cache_hits;
      return exe;
    } catch (const Error& err) {
      disk_cache::reject(key, k.name, err.what());
    }
  }
  ++mutable_stats().disk_cache_misses;
  return nullptr;
}

} // namespace

CachedKernel cached_compile(const Kernel& k, const Backend& backend) {
  // The compile runs outside the lock, so kernels of one program compile in parallel
  // (runtime/program.cpp); lookups, stats, dumps and the disk cache stay under it. A text
  // already being compiled is waited for, not compiled again: a model's repeated layers give
  // one program several equal kernels (a transformer's four blocks: 11 kernels and ~17% of the
  // char_transformer sample's cold compile time were compiled twice).
  static std::mutex mu;
  static std::unordered_map<std::string, CachedKernel> cache;
  static std::unordered_map<std::string, std::shared_future<CachedKernel>> compiling;
  std::string text = print_kernel(k);
  const Options& o = options();
  BackendCompileOptions co;
  for (std::string_view stage : backend.dump_stages())
    if (o.dumps(std::string(stage))) co.dumps.emplace_back(stage);
  co.keep_payload = backend.uses_disk_cache() && disk_cache::enabled();
  std::string key = co.keep_payload ? disk_key(backend, text) : "";
  std::string memory_key =
      fmt::format("{} {}\n{}", backend.name(), device_name(backend.device()), text);
  auto entry = [&](std::shared_ptr<const Executable> exe) {
    return CachedKernel{&backend, std::move(exe), std::make_shared<Kernel>(k)};
  };
  std::promise<CachedKernel> compiled;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (auto it = cache.find(memory_key); it != cache.end()) {
      ++mutable_stats().kernel_cache_hits;
      CachedKernel hit = it->second;
      hit.from_cache = true;
      return hit;
    }
    if (auto it = compiling.find(memory_key); it != compiling.end()) {
      std::shared_future<CachedKernel> other = it->second;
      lock.unlock();
      CachedKernel hit = other.get(); // rethrows that compile's error
      lock.lock();
      ++mutable_stats().kernel_cache_hits;
      hit.from_cache = true;
      return hit;
    }
    // Code dumps (LLVM IR, assembly) need a real compile, so they skip disk hits.
    if (auto exe =
            co.keep_payload && co.dumps.empty() ? load_from_disk(backend, k, key) : nullptr) {
      CachedKernel hit = cache.emplace(std::move(memory_key), entry(std::move(exe))).first->second;
      hit.from_cache = true;
      return hit;
    }
    compiling.emplace(memory_key, compiled.get_future().share());
  }
  try {
    Compiled c = backend.compile(k, co);
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [stage, dump] : c.dumps) write_dump(stage, k.name, dump);
    ++mutable_stats().kernels_compiled;
    if (co.keep_payload) disk_cache::store(key, c.payload, k.name);
    CachedKernel done = cache.emplace(memory_key, entry(std::move(c.exe))).first->second;
    compiling.erase(memory_key);
    compiled.set_value(done);
    return done;
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu);
    compiling.erase(memory_key);
    compiled.set_exception(std::current_exception());
    throw;
  }
}

std::vector<TimedKernel> cached_compile_all(const std::vector<const Kernel*>& kernels,
                                            const Backend& backend) {
  std::vector<TimedKernel> out(kernels.size());
  std::vector<std::exception_ptr> errors(kernels.size());
  parallel_for(static_cast<int64_t>(kernels.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) try {
        out[i].start = profile::now();
        out[i].kernel = cached_compile(*kernels[i], backend);
        out[i].seconds = profile::now() - out[i].start;
      } catch (...) {
        errors[i] = std::current_exception();
      }
  });
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

} // namespace kiln
