#include "codegen/cuda/cuda_backend.h"

#include "codegen/cuda/cuda_emit.h"
#include "codegen/cuda/device_pool.h"
#include "codegen/cuda/driver_api.h"
#include "codegen/cuda/nvrtc_compile.h"
#include "codegen/cuda/nvrtc_library.h"
#include "ir/error.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace kiln::cuda {
namespace {

// What one GPU needs once it is used: its context and stream, and its memory pool.
struct DeviceState {
  Driver driver;
  DevicePool pool;
  explicit DeviceState(int index)
      : driver(index), pool([this](size_t b) { return driver.try_alloc(b); },
                            [this](uint64_t p) { driver.free(p); }) {}
};

struct DeviceStorage : Storage {
  DevicePool* pool = nullptr;
  ~DeviceStorage() override { pool->give(reinterpret_cast<uint64_t>(data), bytes); }
};

struct CudaKernelExe : Executable {
  void* fn = nullptr;
  LaunchPlan plan;
  size_t num_buffers = 0; // Kernel::args; the parameters follow them in launch()'s args
};

bool wants(const BackendCompileOptions& o, std::string_view stage) {
  return std::find(o.dumps.begin(), o.dumps.end(), stage) != o.dumps.end();
}

// The CUDA source (kept as the "cuda" dump when asked) and its CUBIN as the payload; the launch
// plan into *plan when given.
Compiled emit_and_compile(const Kernel& k, const BackendCompileOptions& opts, int index,
                          LaunchPlan* plan) {
  CudaKernel ck = emit_cuda(k);
  CompiledCubin cc = nvrtc_compile(ck.source, ck.plan.entry, target_arch(index));
  Compiled out;
  out.payload.assign(cc.cubin.begin(), cc.cubin.end());
  if (wants(opts, "cuda")) out.dumps.emplace_back("cuda", std::move(ck.source));
  if (plan) *plan = std::move(ck.plan);
  return out;
}

class CudaBackend final : public Backend {
public:
  explicit CudaBackend(int index) : index_(index) {}

  std::string_view name() const override { return "cuda"; }
  Device device() const override { return Device::cuda(index_); }
  std::string cache_key() const override {
    // NVRTC's options are fixed (nvrtc_compile.h): IEEE float, no FMA contraction.
    return fmt::format("backend cuda\narch {}\nnvrtc {}\nprecision ieee, fmad off",
                       target_arch(index_), nvrtc_version());
  }
  std::vector<std::string_view> dump_stages() const override { return {"cuda"}; }
  bool runs_attention() const override { return true; } // cuda_attention.cpp
  // A GPU is usable only when NVRTC loads too (kernels compile on first use).
  int device_count() const override {
    return why_nvrtc_unavailable().empty() ? probe_driver().device_count : 0;
  }
  std::string why_unavailable() const override {
    std::string why = why_nvrtc_unavailable();
    return why.empty() ? probe_driver().why : "NVRTC is not available: " + why;
  }
  const Backend& on(Device d) const override { return cuda_backend(d.index); }

  Compiled compile(const Kernel& k, const BackendCompileOptions& opts) const override {
    LaunchPlan plan;
    Compiled out = emit_and_compile(k, opts, index_, &plan);
    out.exe = load_plan(std::move(plan), k, out.payload);
    if (!opts.keep_payload) out.payload.clear();
    return out;
  }

  std::shared_ptr<const Executable> load(const Kernel& k, std::string_view payload) const override {
    return load_plan(emit_cuda(k).plan, k, payload);
  }

  // Synchronizes: the seam's launch returns when the kernel is done (codegen/backend.h), so
  // the host may read any buffer after it. (One sync per kernel; batching them per program is
  // the next step.)
  void launch(const Executable& exe, void* const* args) const override {
    const auto& ke = static_cast<const CudaKernelExe&>(exe);
    const LaunchPlan& p = ke.plan;
    if (p.grid[0] == 0 || p.grid[1] == 0 || p.grid[2] == 0) return; // an empty domain
    // The driver takes a pointer to each argument's value: to a buffer's device pointer, and to
    // a parameter's 8-byte slot (its value in the low bytes).
    std::vector<void*> values;
    values.reserve(p.args.size());
    for (const LaunchArg& a : p.args)
      values.push_back(a.param ? args[ke.num_buffers + a.index]
                               : const_cast<void**>(&args[a.index]));
    Driver& d = state().driver;
    d.launch(ke.fn, p.grid, p.block, p.dynamic_shared_bytes, values.data(), p.entry);
    d.synchronize();
  }

  std::shared_ptr<Storage> allocate(size_t bytes) const override {
    DeviceState& s = state();
    uint64_t p = s.pool.take(bytes);
    if (!p) fail("cuda", "out of memory on cuda:{} allocating {} bytes", index_, bytes);
    auto st = std::make_shared<DeviceStorage>();
    st->data = reinterpret_cast<void*>(p);
    st->bytes = bytes;
    st->device = device();
    st->pool = &s.pool;
    return st;
  }
  void copy_to_host(void* dst, const Storage& src, size_t bytes) const override {
    state().driver.to_host(dst, reinterpret_cast<DevicePtr>(src.data), bytes);
  }
  void copy_from_host(Storage& dst, const void* src, size_t bytes) const override {
    state().driver.to_device(reinterpret_cast<DevicePtr>(dst.data), src, bytes);
  }

private:
  // The GPU's context at first use; throws "no CUDA device is available" without one.
  DeviceState& state() const {
    std::call_once(once_, [&] { state_ = new DeviceState(index_); }); // never destroyed
    return *state_;
  }

  std::shared_ptr<const Executable> load_plan(LaunchPlan plan, const Kernel& k,
                                              std::string_view cubin) const {
    Driver& d = state().driver;
    auto exe = std::make_shared<CudaKernelExe>();
    exe->fn = d.function(d.load_module(cubin, plan.entry), plan.entry);
    exe->plan = std::move(plan);
    exe->num_buffers = k.args.size();
    return exe;
  }

  int index_;
  mutable std::once_flag once_;
  mutable DeviceState* state_ = nullptr;
};

} // namespace

const Backend& cuda_backend(int index) {
  static std::mutex mu;
  static auto* backends = new std::map<int, CudaBackend*>; // never destroyed, like their pools
  std::lock_guard<std::mutex> lock(mu);
  CudaBackend*& b = (*backends)[index];
  if (!b) b = new CudaBackend(index);
  return *b;
}

std::string target_arch(int index) {
  static std::mutex mu;
  static std::map<int, std::string> arch;
  std::lock_guard<std::mutex> lock(mu);
  auto it = arch.find(index);
  if (it != arch.end()) return it->second;
  bool present = index < probe_driver().device_count;
  return arch[index] = present ? gpu_arch(index) : "sm_90";
}

Compiled compile_cubin(const Kernel& k, const BackendCompileOptions& opts, int index) {
  return emit_and_compile(k, opts, index, nullptr);
}

} // namespace kiln::cuda
