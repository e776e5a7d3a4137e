#include "cuda_driver.h"

#include "ir/error.h"

#include <dlfcn.h>

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
using CuCtxSynchronize = int (*)();
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

} // namespace

void* Driver::sym(const char* name) {
  void* p = dlsym(lib_, name);
  if (!p) fail("cuda", "no CUDA driver available: libcuda.so.1 lacks {}", name);
  return p;
}

void Driver::check(int r, const char* call) const {
  if (r == 0) return;
  const char* msg = "unknown error";
  if (auto f = reinterpret_cast<CuGetErrorString>(dlsym(lib_, "cuGetErrorString"))) f(r, &msg);
  fail("cuda", "{} failed: {} ({})", call, msg, r);
}

Driver::Driver() {
  lib_ = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib_) fail("cuda", "no CUDA driver available: dlopen(libcuda.so.1) failed: {}", dlerror());
  int r = reinterpret_cast<CuInit>(sym("cuInit"))(0);
  if (r != 0) {
    const char* msg = "unknown error";
    if (auto f = reinterpret_cast<CuGetErrorString>(dlsym(lib_, "cuGetErrorString"))) f(r, &msg);
    fail("cuda", "no CUDA driver available: cuInit failed: {} ({})", msg, r);
  }
  int count = 0;
  check(reinterpret_cast<CuDeviceGetCount>(sym("cuDeviceGetCount"))(&count), "cuDeviceGetCount");
  if (count == 0) fail("cuda", "no CUDA driver available: no CUDA device");
  int dev = 0;
  check(reinterpret_cast<CuDeviceGet>(sym("cuDeviceGet"))(&dev, 0), "cuDeviceGet");
  char name[256] = {};
  check(reinterpret_cast<CuDeviceGetName>(sym("cuDeviceGetName"))(name, sizeof name, dev),
        "cuDeviceGetName");
  name_ = name;
  auto attr = reinterpret_cast<CuDeviceGetAttribute>(sym("cuDeviceGetAttribute"));
  check(attr(&major_, kAttrComputeMajor, dev), "cuDeviceGetAttribute");
  check(attr(&minor_, kAttrComputeMinor, dev), "cuDeviceGetAttribute");
  check(reinterpret_cast<CuDriverGetVersion>(sym("cuDriverGetVersion"))(&version_),
        "cuDriverGetVersion");
  void* ctx = nullptr;
  check(reinterpret_cast<CuPrimaryCtxRetain>(sym("cuDevicePrimaryCtxRetain"))(&ctx, dev),
        "cuDevicePrimaryCtxRetain");
  check(reinterpret_cast<CuCtxSetCurrent>(sym("cuCtxSetCurrent"))(ctx), "cuCtxSetCurrent");
}

DevicePtr Driver::alloc(size_t bytes) {
  DevicePtr p = 0;
  check(reinterpret_cast<CuMemAlloc>(sym("cuMemAlloc_v2"))(&p, bytes ? bytes : 1), "cuMemAlloc");
  return p;
}

void Driver::free(DevicePtr p) {
  check(reinterpret_cast<CuMemFree>(sym("cuMemFree_v2"))(p), "cuMemFree");
}

void Driver::to_device(DevicePtr dst, const void* src, size_t bytes) {
  if (bytes)
    check(reinterpret_cast<CuMemcpyHtoD>(sym("cuMemcpyHtoD_v2"))(dst, src, bytes), "cuMemcpyHtoD");
}

void Driver::to_host(void* dst, DevicePtr src, size_t bytes) {
  if (bytes)
    check(reinterpret_cast<CuMemcpyDtoH>(sym("cuMemcpyDtoH_v2"))(dst, src, bytes), "cuMemcpyDtoH");
}

void Driver::copy(DevicePtr dst, DevicePtr src, size_t bytes) {
  check(reinterpret_cast<CuMemcpyDtoD>(sym("cuMemcpyDtoD_v2"))(dst, src, bytes), "cuMemcpyDtoD");
}

void* Driver::load_module(const std::vector<char>& cubin) {
  void* m = nullptr;
  check(reinterpret_cast<CuModuleLoadData>(sym("cuModuleLoadData"))(&m, cubin.data()),
        "cuModuleLoadData");
  return m;
}

void* Driver::function(void* module, const std::string& name) {
  void* f = nullptr;
  check(reinterpret_cast<CuModuleGetFunction>(sym("cuModuleGetFunction"))(&f, module, name.c_str()),
        "cuModuleGetFunction");
  return f;
}

void Driver::launch(void* fn, const unsigned grid[3], const unsigned block[3], size_t shared,
                    void** args) {
  check(reinterpret_cast<CuLaunchKernel>(sym("cuLaunchKernel"))(
            fn, grid[0], grid[1], grid[2], block[0], block[1], block[2],
            static_cast<unsigned>(shared), nullptr, args, nullptr),
        "cuLaunchKernel");
}

void Driver::synchronize() {
  check(reinterpret_cast<CuCtxSynchronize>(sym("cuCtxSynchronize"))(), "cuCtxSynchronize");
}

void* Driver::event() {
  void* e = nullptr;
  check(reinterpret_cast<CuEventCreate>(sym("cuEventCreate"))(&e, 0), "cuEventCreate");
  return e;
}

void Driver::record(void* e) {
  check(reinterpret_cast<CuEventRecord>(sym("cuEventRecord"))(e, nullptr), "cuEventRecord");
}

float Driver::elapsed(void* start, void* stop) {
  check(reinterpret_cast<CuEventSynchronize>(sym("cuEventSynchronize"))(stop),
        "cuEventSynchronize");
  float ms = 0;
  void* f = dlsym(lib_, "cuEventElapsedTime_v2"); // CUDA 12.8+; the older name before that
  if (!f) f = sym("cuEventElapsedTime");
  check(reinterpret_cast<CuEventElapsedTime>(f)(&ms, start, stop), "cuEventElapsedTime");
  auto destroy = reinterpret_cast<CuEventDestroy>(sym("cuEventDestroy_v2"));
  destroy(start);
  destroy(stop);
  return ms;
}

} // namespace kiln::cuda
