#include "codegen/backend.h"

#include "codegen/interp/interp_backend.h"
#include "ir/error.h"

#if KILN_HAS_LLVM
#include "codegen/cpu/llvm_backend.h"
#endif
#if KILN_HAS_CUDA
#include "codegen/cuda/cuda_backend.h"
#endif

#include <fmt/ranges.h>

namespace kiln {
namespace {

// Each device's default first.
const std::vector<const Backend*>& backends() {
  static const std::vector<const Backend*> all = [] {
    std::vector<const Backend*> b;
#if KILN_HAS_LLVM
    b.push_back(&llvm_backend());
#endif
    b.push_back(&interp_backend());
#if KILN_HAS_CUDA
    b.push_back(&cuda::cuda_backend(0)); // the others through on(cuda:N)
#endif
    return b;
  }();
  return all;
}

std::string_view kind_name(Device d) { return d.kind == Device::Kind::Cuda ? "CUDA" : "CPU"; }

} // namespace

const Backend* find_backend(std::string_view name) {
  for (const Backend* b : backends())
    if (b->name() == name) return b;
  return nullptr;
}

std::vector<std::string_view> backend_names() {
  std::vector<std::string_view> names;
  for (const Backend* b : backends()) names.push_back(b->name());
  return names;
}

const Backend& backend_for(Device d, std::string_view name) {
  for (const Backend* b : backends()) {
    if (b->device().kind != d.kind || (!name.empty() && b->name() != name)) continue;
    if (d.index < b->device_count()) return b->on(d);
    std::string why = b->why_unavailable();
    if (why.empty()) why = fmt::format("this machine has {}", b->device_count());
    fail("device", "no {} device is available for {}: {}", kind_name(d), device_name(d), why);
  }
  if (d.kind == Device::Kind::Cuda && name.empty())
    fail("device",
         "no CUDA device is available for {}: this kiln was built without CUDA "
         "(KILN_CUDA=OFF)",
         device_name(d));
  if (!name.empty())
    fail("backend", "no backend '{}' for {} in this build (built in: {})", name, device_name(d),
         fmt::join(backend_names(), ", "));
  fail("backend", "no backend for {} in this build (built in: {})", device_name(d),
       fmt::join(backend_names(), ", "));
}

} // namespace kiln
