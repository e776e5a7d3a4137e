// The process-wide LLVM ORC LLJIT: host target detection, -O3 pipeline, kernel compilation.
#include "codegen/cpu/llvm_emit.h"
#include "codegen/cpu_backend.h"
#include "ir/error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <chrono>
#include <cmath>
#include <mutex>

extern "C" int64_t kiln_ipow(int64_t base, int64_t exp) {
  if (exp < 0) return base == 1 ? 1 : base == -1 ? (exp % 2 ? -1 : 1) : 0;
  uint64_t r = 1, b = static_cast<uint64_t>(base);
  for (; exp; exp >>= 1, b *= b)
    if (exp & 1) r *= b;
  return static_cast<int64_t>(r);
}

namespace kiln::cpu {
namespace {

std::string to_string_err(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

template <typename T> T check(llvm::Expected<T> v, const char* what) {
  if (!v) fail("codegen", "{}: {}", what, to_string_err(v.takeError()));
  return std::move(*v);
}

class Jit {
public:
  Jit() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = check(llvm::orc::JITTargetMachineBuilder::detectHost(), "detect host");
    jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
    cpu_ = jtmb.getCPU();
    features_ = jtmb.getFeatures().getString();
    avx512_ = features_.find("+avx512f") != std::string::npos;
    target_ = cpu_ + " " + features_;
    tm_ = check(jtmb.createTargetMachine(), "create target machine");
    jit_ = check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(), "create LLJIT");
    auto& dylib = jit_->getMainJITDylib();
    dylib.addGenerator(check(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
                                 jit_->getDataLayout().getGlobalPrefix()),
                             "process symbols"));
    // Math functions kernels call, bound by address so they resolve under sanitizers too.
    llvm::orc::SymbolMap syms;
    auto bind = [&](const char* name, auto* fn) {
      syms[jit_->mangleAndIntern(name)] =
          llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(reinterpret_cast<void*>(fn)),
                                   llvm::JITSymbolFlags::Exported);
    };
    bind("kiln_ipow", &kiln_ipow);
    bind("tanhf", static_cast<float (*)(float)>(::tanhf));
    bind("tanh", static_cast<double (*)(double)>(::tanh));
    bind("erff", static_cast<float (*)(float)>(::erff));
    bind("erf", static_cast<double (*)(double)>(::erf));
    bind("log1pf", static_cast<float (*)(float)>(::log1pf));
    bind("log1p", static_cast<double (*)(double)>(::log1p));
    bind("expm1f", static_cast<float (*)(float)>(::expm1f));
    bind("expm1", static_cast<double (*)(double)>(::expm1));
    if (auto e = dylib.define(llvm::orc::absoluteSymbols(std::move(syms))))
      fail("codegen", "define symbols: {}", to_string_err(std::move(e)));
  }

  CompiledKernel compile(const Kernel& k, const CompileOptions& opts) {
    std::lock_guard<std::mutex> lock(mu_);
    auto t0 = std::chrono::steady_clock::now();
    CompiledKernel out;
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto m = emit_llvm(k, *ctx, cpu_, features_, avx512_);
    m->setDataLayout(jit_->getDataLayout());
    m->setTargetTriple(jit_->getTargetTriple().str());
    if (opts.keep_llvm_ir) out.llvm_ir = print(*m);
    optimize(*m);
    if (opts.keep_llvm_ir) out.llvm_ir_optimized = print(*m);
    if (opts.keep_asm) out.assembly = assembly(*m);
    if (auto e = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
      fail("codegen", "add module {}: {}", k.name, to_string_err(std::move(e)));
    auto addr = check(jit_->lookup(k.name), "lookup kernel");
    out.fn = addr.toPtr<KernelFn>();
    out.compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  const std::string& target() const { return target_; }

private:
  static std::string print(const llvm::Module& m) {
    std::string s;
    llvm::raw_string_ostream os(s);
    m.print(os, nullptr);
    return os.str();
  }

  void optimize(llvm::Module& m) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = true;
    pto.SLPVectorization = true;
    llvm::PassBuilder pb(tm_.get(), pto);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
  }

  std::string assembly(llvm::Module& m) {
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm_->addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_AssemblyFile)) return "<no assembly printer>";
    auto clone = llvm::CloneModule(m);
    pm.run(*clone);
    return std::string(buf.str());
  }

  std::mutex mu_;
  std::string cpu_, features_, target_;
  bool avx512_ = false;
  std::unique_ptr<llvm::TargetMachine> tm_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

Jit& jit() {
  static Jit j;
  return j;
}

} // namespace

CompiledKernel compile(const Kernel& k, const CompileOptions& opts) { return jit().compile(k, opts); }
const std::string& host_target() { return jit().target(); }

} // namespace kiln::cpu
