// The CUDA driver API, loaded with dlopen("libcuda.so.1") and dlsym at first use, so nothing
// links against libcuda and a machine without a driver gets a clear kiln::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::cuda {

using DevicePtr = unsigned long long;

// Whether the driver loads, initializes and is new enough, and how many GPUs it sees. Probed once
// per process; never throws.
struct DriverProbe {
  int device_count = 0;
  int driver_version = 0; // e.g. 13000
  std::string why;        // when device_count is 0: what is missing
};
const DriverProbe& probe_driver();
// "sm_90" for GPU number `index`; throws kiln::Error like Driver's constructor without one.
std::string gpu_arch(int index);

// One GPU: its primary context and one stream. Every call makes the context current on the
// calling thread first (kernels of a program load from worker threads) and checks its result.
class Driver {
public:
  // Throws kiln::Error "[cuda] no CUDA device is available: ..." when the probe found no usable
  // driver or no GPU number `index`.
  explicit Driver(int index = 0);
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  std::string device_name() const { return name_; }
  int compute_major() const { return major_; }
  int compute_minor() const { return minor_; }
  std::string arch() const { return gpu_arch(index_); }
  int driver_version() const { return probe_driver().driver_version; }

  DevicePtr alloc(size_t bytes);
  // Like alloc, but 0 when the GPU is out of memory (other failures throw).
  DevicePtr try_alloc(size_t bytes);
  void free(DevicePtr p);
  void to_device(DevicePtr dst, const void* src, size_t bytes);
  void to_host(void* dst, DevicePtr src, size_t bytes);
  void copy(DevicePtr dst, DevicePtr src, size_t bytes); // device to device
  // Loads a CUBIN; `what` (the kernel's name) goes into errors.
  void* load_module(std::string_view cubin, std::string_view what);
  void* function(void* module, const std::string& name);
  // On this device's stream; asynchronous until synchronize().
  void launch(void* fn, const unsigned grid[3], const unsigned block[3], size_t shared, void** args,
              std::string_view what);
  void synchronize(); // waits for this device's stream
  // Milliseconds between two events recorded around `body` on this device's stream.
  template <typename F> float time_ms(F&& body) {
    void* start = event();
    void* stop = event();
    record(start);
    body();
    record(stop);
    return elapsed(start, stop);
  }

private:
  void bind() const; // makes this device's context current on the calling thread
  void* event();
  void record(void* e);
  float elapsed(void* start, void* stop); // synchronizes on stop, destroys both

  int index_ = 0;
  void* ctx_ = nullptr;
  void* stream_ = nullptr;
  std::string name_;
  int major_ = 0, minor_ = 0;
};

} // namespace kiln::cuda
