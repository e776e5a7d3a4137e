#include "runtime/kernel_cache.h"

#include "runtime/config.h"
#include "runtime/stats.h"

#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

namespace kiln {

CachedKernel cached_compile(const Kernel& k) {
  static std::mutex mu;
  static std::unordered_map<std::string, CachedKernel> cache;
  std::string key = print_kernel(k);
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) {
    ++mutable_stats().kernel_cache_hits;
    return it->second;
  }
  const Options& o = options();
  cpu::CompiledKernel ck = cpu::compile(k, {.keep_llvm_ir = o.dumps("llvm"), .keep_asm = o.dumps("asm")});
  if (o.dumps("llvm"))
    fmt::print(stderr, "; ---- llvm {} ----\n{}\n; ---- llvm optimized {} ----\n{}\n", k.name, ck.llvm_ir, k.name,
               ck.llvm_ir_optimized);
  if (o.dumps("asm")) fmt::print(stderr, "# ---- asm {} ----\n{}\n", k.name, ck.assembly);
  ++mutable_stats().kernels_compiled;
  CachedKernel c{ck.fn, std::make_shared<Kernel>(k)};
  cache.emplace(std::move(key), c);
  return c;
}

} // namespace kiln
