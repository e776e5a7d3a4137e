// The CUDA driver API, loaded with dlopen("libcuda.so.1") and dlsym at run time, so nothing
// links against libcuda and a machine without a driver gets a clear kiln::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cuda {

using DevicePtr = unsigned long long;

class Driver {
public:
  // Loads the driver, initializes it and makes device 0's primary context current. Throws
  // kiln::Error "[cuda] no CUDA driver available: ..." when there is no usable driver or GPU.
  Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  std::string device_name() const { return name_; }
  int compute_major() const { return major_; }
  int compute_minor() const { return minor_; }
  int driver_version() const { return version_; } // e.g. 13000

  DevicePtr alloc(size_t bytes);
  void free(DevicePtr p);
  void to_device(DevicePtr dst, const void* src, size_t bytes);
  void to_host(void* dst, DevicePtr src, size_t bytes);
  void copy(DevicePtr dst, DevicePtr src, size_t bytes); // device to device
  void* load_module(const std::vector<char>& cubin);
  void* function(void* module, const std::string& name);
  void launch(void* fn, const unsigned grid[3], const unsigned block[3], size_t shared,
              void** args);
  void synchronize();
  // Milliseconds between two events recorded around `body` on the default stream.
  template <typename F> float time_ms(F&& body) {
    void* start = event();
    void* stop = event();
    record(start);
    body();
    record(stop);
    return elapsed(start, stop);
  }

private:
  void* event();
  void record(void* e);
  float elapsed(void* start, void* stop); // synchronizes on stop, destroys both
  void check(int result, const char* call) const;
  void* sym(const char* name);

  void* lib_ = nullptr;
  std::string name_;
  int major_ = 0, minor_ = 0, version_ = 0;
};

} // namespace kiln::cuda
