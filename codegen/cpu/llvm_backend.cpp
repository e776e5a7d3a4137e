#include "codegen/cpu/llvm_backend.h"

#include "codegen/cpu/jit.h"
#include "codegen/host/host_backend.h"
#include "passes/gemm_match.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln {
namespace {

struct NativeKernel : Executable {
  cpu::KernelFn fn;
  KernelSplit split;
  NativeKernel(const Kernel& k, cpu::KernelFn f) : fn(f), split(k, match_gemm(k).has_value()) {}
};

std::shared_ptr<const Executable> native(const Kernel& k, cpu::KernelFn fn) {
  return std::make_shared<NativeKernel>(k, fn);
}

bool wants(const BackendCompileOptions& o, std::string_view stage) {
  return std::find(o.dumps.begin(), o.dumps.end(), stage) != o.dumps.end();
}

class LlvmBackend final : public HostBackend {
public:
  std::string_view name() const override { return "llvm"; }
  std::string cache_key() const override {
    // kCodegenVersion counts changes to the emitted code or the pass pipelines: a cached
    // object from older codegen is then compiled again instead of loaded.
    // 9: streaming stores chosen at launch for outputs of a symbolic size (streaming_stores.cpp)
    // 10: symbolic attention; whole query blocks score their rows unclamped (emit_attention.cpp)
    // 11: f32 tanh is exactly +-1 from |x| >= 13 ln 2 (llvm_math.cpp)
    // 12: short rows of whole vectors keep their reduce loop (emit_stages.cpp)
    constexpr int kCodegenVersion = 12;
    return fmt::format("backend cpu\ntarget {}\nllvm {}\ncodegen {}", cpu::host_target(),
                       cpu::llvm_version(), kCodegenVersion);
  }
  std::vector<std::string_view> dump_stages() const override {
    return {"llvm", "asm", "llvm-time"};
  }
  bool runs_attention() const override { return true; }
  bool runs_symbolic() const override { return true; }

  Compiled compile(const Kernel& k, const BackendCompileOptions& opts) const override {
    cpu::CompiledKernel ck = cpu::compile(k, {.keep_llvm_ir = wants(opts, "llvm"),
                                              .keep_asm = wants(opts, "asm"),
                                              .keep_object = opts.keep_payload,
                                              .keep_timing = wants(opts, "llvm-time"),
                                              .cpu = opts.cpu});
    Compiled out;
    if (ck.fn) out.exe = native(k, ck.fn);
    out.payload = std::move(ck.object);
    if (wants(opts, "llvm")) {
      out.dumps.emplace_back("llvm", std::move(ck.llvm_ir));
      out.dumps.emplace_back("llvm-opt", std::move(ck.llvm_ir_optimized));
    }
    if (wants(opts, "asm")) out.dumps.emplace_back("asm", std::move(ck.assembly));
    if (wants(opts, "llvm-time")) out.dumps.emplace_back("llvm-time", std::move(ck.timing));
    return out;
  }

  std::shared_ptr<const Executable> load(const Kernel& k, std::string_view payload) const override {
    return native(k, cpu::load_object(k.name, payload));
  }

  void launch(const Executable& exe, void* const* args) const override {
    const auto& nk = static_cast<const NativeKernel&>(exe);
    run_rows(nk.split.at(args), [&](int64_t b, int64_t e) { nk.fn(args, b, e); });
  }
};

} // namespace

const Backend& llvm_backend() {
  static const LlvmBackend b;
  return b;
}

} // namespace kiln
