// Kernel cache lookups: in memory, then on disk (runtime/disk_cache.h), then an LLVM compile.
#include "runtime/kernel_cache.h"

#include "ir/error.h"
#include "runtime/config.h"
#include "runtime/disk_cache.h"
#include "runtime/dump.h"
#include "runtime/stats.h"

#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

namespace kiln {
namespace {

// The kernel text and everything else its native code depends on (DESIGN.md "Kernel cache").
std::string disk_key(const std::string& kernel_text) {
  return fmt::format(
      "kiln kernel cache format {}\nbackend cpu\ntarget {}\nllvm {}\nkiln build {}\n{}",
      kDiskCacheFormat, cpu::host_target(), cpu::llvm_version(), kiln_build_id(), kernel_text);
}

// The kernel from the disk cache, or nullptr on a miss.
cpu::KernelFn load_from_disk(const Kernel& k, const std::string& key) {
  disk_cache::Lookup e = disk_cache::load(key, k.name);
  if (e.status == disk_cache::Status::Hit) {
    try {
      cpu::KernelFn fn = cpu::load_object(k.name, e.payload);
      ++mutable_stats().disk_cache_hits;
      return fn;
    } catch (const Error& err) {
      disk_cache::reject(key, k.name, err.what());
    }
  }
  ++mutable_stats().disk_cache_misses;
  return nullptr;
}

} // namespace

CachedKernel cached_compile(const Kernel& k) {
  // The LLVM compile runs outside the lock, so kernels of one program compile in parallel
  // (runtime/program.cpp); lookups, stats, dumps and the disk cache stay under it. Two threads
  // compiling one text at once both compile; the first to finish is kept.
  static std::mutex mu;
  static std::unordered_map<std::string, CachedKernel> cache;
  std::string text = print_kernel(k);
  const Options& o = options();
  bool dump_code = o.dumps("llvm") || o.dumps("asm");
  bool use_disk = disk_cache::enabled();
  std::string key = use_disk ? disk_key(text) : "";
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(text); it != cache.end()) {
      ++mutable_stats().kernel_cache_hits;
      CachedKernel hit = it->second;
      hit.from_cache = true;
      return hit;
    }
    // LLVM IR and assembly dumps need a real compile, so they skip disk hits.
    if (cpu::KernelFn fn = use_disk && !dump_code ? load_from_disk(k, key) : nullptr) {
      CachedKernel hit =
          cache.emplace(std::move(text), CachedKernel{fn, std::make_shared<Kernel>(k)})
              .first->second;
      hit.from_cache = true;
      return hit;
    }
  }
  cpu::CompiledKernel ck = cpu::compile(
      k, {.keep_llvm_ir = o.dumps("llvm"), .keep_asm = o.dumps("asm"), .keep_object = use_disk});
  std::lock_guard<std::mutex> lock(mu);
  if (o.dumps("llvm")) {
    write_dump("llvm", k.name, ck.llvm_ir);
    write_dump("llvm-opt", k.name, ck.llvm_ir_optimized);
  }
  if (o.dumps("asm")) write_dump("asm", k.name, ck.assembly);
  ++mutable_stats().kernels_compiled;
  if (use_disk) disk_cache::store(key, ck.object, k.name);
  return cache.emplace(std::move(text), CachedKernel{ck.fn, std::make_shared<Kernel>(k)})
      .first->second;
}

} // namespace kiln
