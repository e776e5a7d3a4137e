#include "codegen/cuda/driver_api.h"

#include "ir/error.h"

#include <dlfcn.h>
#include <tuple>
#include <utility>

namespace kiln::cuda {
namespace {

// Driver API entry points by their ABI names (cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2).
using CuInit = int (*)(unsigned);
using CuDriverGetVersion = int (*)(int*);
using CuDeviceGet = int (*)(int*, int);
using CuDeviceGetCount = int (*)(int*);
using CuDeviceGetName = int (*)(char*, int, int);
using CuDeviceGetAttribute = int (*)(int*, int, int);
using CuPrimaryCtxRetain = int (*)(void**, int);
using CuCtxSetCurrent = int (*)(void*);
using CuStreamCreate = int (*)(void**, unsigned);
using CuStreamSynchronize = int (*)(void*);
using CuMemAlloc = int (*)(DevicePtr*, size_t);
using CuMemFree = int (*)(DevicePtr);
using CuMemcpyHtoD = int (*)(DevicePtr, const void*, size_t);
using CuMemcpyDtoH = int (*)(void*, DevicePtr, size_t);
using CuMemcpyDtoD = int (*)(DevicePtr, DevicePtr, size_t);
using CuModuleLoadData = int (*)(void**, const void*);
using CuModuleGetFunction = int (*)(void**, void*, const char*);
using CuLaunchKernel = int (*)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                               unsigned, void*, void**, void**);
using CuEventCreate = int (*)(void**, unsigned);
using CuEventRecord = int (*)(void*, void*);
using CuEventSynchronize = int (*)(void*);
using CuEventElapsedTime = int (*)(float*, void*, void*);
using CuEventDestroy = int (*)(void*);
using CuGetErrorString = int (*)(int, const char**);

constexpr int kAttrComputeMajor = 75, kAttrComputeMinor = 76;
constexpr int kOutOfMemory = 2; // CUDA_ERROR_OUT_OF_MEMORY
// CUBINs of NVRTC 13 need a driver for CUDA 13 (R580 or newer).
constexpr int kMinDriverVersion = 13000;

void* g_lib = nullptr; // set once by probe_driver(), never closed

std::string error_string(int r) {
  const char* msg = "unknown error";
  if (auto f = reinterpret_cast<CuGetErrorString>(dlsym(g_lib, "cuGetErrorString"))) f(r, &msg);
  return fmt::format("{} ({})", msg, r);
}

void* sym(const char* name) {
  void* p = dlsym(g_lib, name);
  if (!p) fail("cuda", "libcuda.so.1 lacks {}", name);
  return p;
}

template <typename F> F entry(const char* name) { return reinterpret_cast<F>(sym(name)); }

void check(int r, std::string_view call, std::string_view what = {}) {
  if (r == 0) return;
  if (what.empty()) fail("cuda", "{} failed: {}", call, error_string(r));
  fail("cuda", "{} failed for kernel {}: {}", call, what, error_string(r));
}

DriverProbe probe() {
  DriverProbe p;
  g_lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!g_lib) {
    p.why = fmt::format("the CUDA driver cannot be loaded ({})", dlerror());
    return p;
  }
  auto init = reinterpret_cast<CuInit>(dlsym(g_lib, "cuInit"));
  auto version = reinterpret_cast<CuDriverGetVersion>(dlsym(g_lib, "cuDriverGetVersion"));
  auto count = reinterpret_cast<CuDeviceGetCount>(dlsym(g_lib, "cuDeviceGetCount"));
  if (!init || !version || !count) {
    p.why = "libcuda.so.1 lacks the driver API (cuInit, cuDeviceGetCount)";
    return p;
  }
  if (int r = init(0); r != 0) {
    p.why = fmt::format("cuInit failed: {}", error_string(r));
    return p;
  }
  version(&p.driver_version);
  if (p.driver_version < kMinDriverVersion) {
    p.why =
        fmt::format("the driver supports CUDA {}.{}, kiln's NVRTC needs {}.{} (an R580+ driver)",
                    p.driver_version / 1000, p.driver_version % 1000 / 10, kMinDriverVersion / 1000,
                    kMinDriverVersion % 1000 / 10);
    return p;
  }
  int n = 0;
  if (int r = count(&n); r != 0)
    p.why = fmt::format("cuDeviceGetCount failed: {}", error_string(r));
  else if (n == 0)
    p.why = "the driver sees no GPU";
  p.device_count = n;
  return p;
}

} // namespace

const DriverProbe& probe_driver() {
  static const DriverProbe p = probe();
  return p;
}

namespace {

// The driver's handle of GPU `index`, or a kiln::Error saying why there is none.
int device_handle(int index) {
  const DriverProbe& p = probe_driver();
  if (p.device_count == 0) fail("cuda", "no CUDA device is available: {}", p.why);
  if (index < 0 || index >= p.device_count)
    fail("cuda", "no CUDA device is available as cuda:{}: this machine has {}", index,
         p.device_count);
  int dev = 0;
  check(entry<CuDeviceGet>("cuDeviceGet")(&dev, index), "cuDeviceGet");
  return dev;
}

std::pair<int, int> compute_capability(int dev) {
  auto attr = entry<CuDeviceGetAttribute>("cuDeviceGetAttribute");
  int major = 0, minor = 0;
  check(attr(&major, kAttrComputeMajor, dev), "cuDeviceGetAttribute");
  check(attr(&minor, kAttrComputeMinor, dev), "cuDeviceGetAttribute");
  return {major, minor};
}

} // namespace

std::string gpu_arch(int index) {
  auto [major, minor] = compute_capability(device_handle(index));
  return fmt::format("sm_{}{}", major, minor);
}

Driver::Driver(int index) : index_(index) {
  int dev = device_handle(index);
  char name[256] = {};
  check(entry<CuDeviceGetName>("cuDeviceGetName")(name, sizeof name, dev), "cuDeviceGetName");
  name_ = name;
  std::tie(major_, minor_) = compute_capability(dev);
  check(entry<CuPrimaryCtxRetain>("cuDevicePrimaryCtxRetain")(&ctx_, dev),
        "cuDevicePrimaryCtxRetain");
  bind();
  check(entry<CuStreamCreate>("cuStreamCreate")(&stream_, 0), "cuStreamCreate");
}

void Driver::bind() const {
  check(entry<CuCtxSetCurrent>("cuCtxSetCurrent")(ctx_), "cuCtxSetCurrent");
}

DevicePtr Driver::alloc(size_t bytes) {
  DevicePtr p = try_alloc(bytes);
  if (!p) fail("cuda", "out of memory on cuda:{} allocating {} bytes", index_, bytes);
  return p;
}

DevicePtr Driver::try_alloc(size_t bytes) {
  bind();
  DevicePtr p = 0;
  int r = entry<CuMemAlloc>("cuMemAlloc_v2")(&p, bytes ? bytes : 1);
  if (r == kOutOfMemory) return 0;
  check(r, "cuMemAlloc");
  return p;
}

void Driver::free(DevicePtr p) {
  bind();
  check(entry<CuMemFree>("cuMemFree_v2")(p), "cuMemFree");
}

// Copies are synchronous with respect to the host; they follow the kernels of the stream (a
// blocking stream waits for the legacy default stream and the other way round).
void Driver::to_device(DevicePtr dst, const void* src, size_t bytes) {
  if (!bytes) return;
  bind();
  check(entry<CuMemcpyHtoD>("cuMemcpyHtoD_v2")(dst, src, bytes), "cuMemcpyHtoD");
}

void Driver::to_host(void* dst, DevicePtr src, size_t bytes) {
  if (!bytes) return;
  bind();
  check(entry<CuMemcpyDtoH>("cuMemcpyDtoH_v2")(dst, src, bytes), "cuMemcpyDtoH");
}

void Driver::copy(DevicePtr dst, DevicePtr src, size_t bytes) {
  bind();
  check(entry<CuMemcpyDtoD>("cuMemcpyDtoD_v2")(dst, src, bytes), "cuMemcpyDtoD");
}

void* Driver::load_module(std::string_view cubin, std::string_view what) {
  bind();
  void* m = nullptr;
  check(entry<CuModuleLoadData>("cuModuleLoadData")(&m, cubin.data()), "cuModuleLoadData", what);
  return m;
}

void* Driver::function(void* module, const std::string& name) {
  bind();
  void* f = nullptr;
  check(entry<CuModuleGetFunction>("cuModuleGetFunction")(&f, module, name.c_str()),
        "cuModuleGetFunction", name);
  return f;
}

void Driver::launch(void* fn, const unsigned grid[3], const unsigned block[3], size_t shared,
                    void** args, std::string_view what) {
  bind();
  check(entry<CuLaunchKernel>("cuLaunchKernel")(fn, grid[0], grid[1], grid[2], block[0], block[1],
                                                block[2], static_cast<unsigned>(shared), stream_,
                                                args, nullptr),
        "cuLaunchKernel", what);
}

void Driver::synchronize() {
  bind();
  check(entry<CuStreamSynchronize>("cuStreamSynchronize")(stream_), "cuStreamSynchronize");
}

void* Driver::event() {
  bind();
  void* e = nullptr;
  check(entry<CuEventCreate>("cuEventCreate")(&e, 0), "cuEventCreate");
  return e;
}

void Driver::record(void* e) {
  check(entry<CuEventRecord>("cuEventRecord")(e, stream_), "cuEventRecord");
}

float Driver::elapsed(void* start, void* stop) {
  check(entry<CuEventSynchronize>("cuEventSynchronize")(stop), "cuEventSynchronize");
  float ms = 0;
  void* f = dlsym(g_lib, "cuEventElapsedTime_v2"); // CUDA 12.8+; the older name before that
  if (!f) f = sym("cuEventElapsedTime");
  check(reinterpret_cast<CuEventElapsedTime>(f)(&ms, start, stop), "cuEventElapsedTime");
  auto destroy = entry<CuEventDestroy>("cuEventDestroy_v2");
  destroy(start);
  destroy(stop);
  return ms;
}

} // namespace kiln::cuda
