// The backend interface: everything the runtime needs from one kind of device (DESIGN.md
// "Backends and devices"). A backend compiles kernel IR to a payload the disk cache can keep (an
// object file, a CUBIN), loads a payload into an executable, launches it, and allocates and copies
// its device's memory. The runtime names no backend's own types, and backends never include
// runtime/.
#pragma once
#include "ir/device.h"
#include "ir/kernel.h"
#include "ir/storage.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln {

// A loaded kernel, ready to launch (native code, a GPU function, a kernel to interpret).
struct Executable {
  virtual ~Executable() = default;
};

struct BackendCompileOptions {
  std::vector<std::string> dumps; // stages of Backend::dump_stages() to keep the text of
  bool keep_payload = false;      // fill Compiled::payload (what the disk cache stores)
  // A CPU to compile for instead of the host (the LLVM backend's, kiln-opt --mcpu): the dumps of
  // another host's code, and no executable.
  std::string cpu{};
};

struct Compiled {
  std::shared_ptr<const Executable> exe;
  std::string payload;
  // (stage, text) for each requested dump; a stage may yield more than one ("llvm" gives "llvm"
  // and "llvm-opt").
  std::vector<std::pair<std::string, std::string>> dumps;
};

class Backend {
public:
  virtual ~Backend() = default;
  // "llvm", "interp", "cuda": what KILN_BACKEND selects.
  virtual std::string_view name() const = 0;
  virtual Device device() const = 0;
  // Lines of the disk-cache key besides the kernel text: the backend, its target and compiler
  // version (other target or compiler, other code).
  virtual std::string cache_key() const = 0;
  // False when loading a payload would cost what compiling costs (nothing to keep on disk).
  virtual bool uses_disk_cache() const { return true; }
  // Whether it runs fused attention kernels (nested stages, softmax_sum); else the scheduler
  // leaves attention as its three kernels.
  virtual bool runs_attention() const { return false; }
  // Whether it runs symbolic kernels (extents read from a size parameter, passes/generalise.h);
  // else every size of a program compiles its own kernels.
  virtual bool runs_symbolic() const { return false; }
  // KILN_DUMP stages its compile() can produce (llvm, asm; cuda, ptx).
  virtual std::vector<std::string_view> dump_stages() const { return {}; }
  // How many devices of its kind this machine has; 0 when it cannot run here, and then
  // why_unavailable() says why (no driver, no GPU, no NVRTC). Never throws.
  virtual int device_count() const { return 1; }
  virtual std::string why_unavailable() const { return {}; }
  // The instance of this backend that runs on `d`, one of its kind below device_count() (a GPU
  // backend keeps a context and a stream per device).
  virtual const Backend& on(Device d) const { return *this; }

  // Thread-safe: kernels of one program compile in parallel.
  virtual Compiled compile(const Kernel& k, const BackendCompileOptions& opts) const = 0;
  // A payload made by compile() for the same kernel (e.g. read back from the disk cache); throws
  // kiln::Error when it cannot be loaded.
  virtual std::shared_ptr<const Executable> load(const Kernel& k,
                                                 std::string_view payload) const = 0;
  // Runs the kernel over its whole domain and returns when it is done. args: each buffer's data
  // pointer (Kernel::args), then a pointer to each parameter's 8-byte slot holding a value of its
  // dtype (Kernel::params).
  virtual void launch(const Executable& exe, void* const* args) const = 0;

  virtual std::shared_ptr<Storage> allocate(size_t bytes) const = 0;
  virtual void copy_to_host(void* dst, const Storage& src, size_t bytes) const = 0;
  virtual void copy_from_host(Storage& dst, const void* src, size_t bytes) const = 0;
};

// The backends built into this kiln, by name: "llvm" (with KILN_LLVM), "interp" (always), "cuda"
// (with KILN_CUDA; GPU 0, the others through Backend::on).
const Backend* find_backend(std::string_view name);
std::vector<std::string_view> backend_names();
// The backend that runs kernels on `d`: the one called `name` (KILN_BACKEND) when given, else the
// device's default (the CPU: llvm, or interp in a build without LLVM). Throws kiln::Error when
// there is none, naming what exists, or when `d` is not on this machine ("no CUDA device is
// available ...", with the reason).
const Backend& backend_for(Device d, std::string_view name = {});

} // namespace kiln
