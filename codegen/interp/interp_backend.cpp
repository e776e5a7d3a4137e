#include "codegen/interp/interp_backend.h"

#include "codegen/host/host_backend.h"
#include "codegen/interp/kernel_eval.h"

#include <exception>
#include <mutex>

namespace kiln {
namespace {

struct Interpreted : Executable {
  KernelEval eval;
  KernelSplit split;
  explicit Interpreted(const Kernel& k) : eval(k), split(k, false) {}
};

class InterpBackend final : public HostBackend {
public:
  std::string_view name() const override { return "interp"; }
  std::string cache_key() const override { return "backend interp"; }
  bool uses_disk_cache() const override { return false; } // "compiling" is loading
  bool runs_attention() const override { return true; }
  bool runs_symbolic() const override { return true; }

  Compiled compile(const Kernel& k, const BackendCompileOptions&) const override {
    Compiled c;
    c.exe = load(k, {});
    return c;
  }

  std::shared_ptr<const Executable> load(const Kernel& k, std::string_view) const override {
    return std::make_shared<Interpreted>(k);
  }

  void launch(const Executable& exe, void* const* args) const override {
    const auto& in = static_cast<const Interpreted&>(exe);
    // An error (a read outside a buffer) must not unwind through the thread pool's workers.
    std::mutex mu;
    std::exception_ptr error;
    run_rows(in.split.at(args), [&](int64_t b, int64_t e) {
      try {
        in.eval.run(args, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    });
    if (error) std::rethrow_exception(error);
  }
};

} // namespace

const Backend& interp_backend() {
  static const InterpBackend b;
  return b;
}

} // namespace kiln
