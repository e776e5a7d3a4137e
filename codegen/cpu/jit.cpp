// The process-wide LLVM ORC LLJIT: host target detection, optimization pipelines, object code,
// loading.
#include "codegen/cpu/jit.h"

#include "codegen/cpu/compile_timing.h"
#include "codegen/cpu/llvm_emit.h"
#include "codegen/cpu/perf_map.h"
#include "codegen/cpu/streaming_stores.h"
#include "ir/error.h"
#include "ir/scalar_eval.h"
#include "passes/attention_match.h"
#include "passes/gemm_match.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/LICM.h>
#include <llvm/Transforms/Scalar/LoopDeletion.h>
#include <llvm/Transforms/Scalar/LoopPassManager.h>
#include <llvm/Transforms/Scalar/LoopRotation.h>
#include <llvm/Transforms/Scalar/LoopUnrollPass.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Transforms/Vectorize/LoopVectorize.h>
#include <llvm/Transforms/Vectorize/SLPVectorizer.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <tuple>
#include <unistd.h>

extern "C" void* kiln_gemm_scratch(int64_t bytes); // emit_gemm.cpp

// Integer pow for kernels: the interpreter's semantics, bound into the JIT by address.
extern "C" int64_t kiln_ipow(int64_t base, int64_t exp) { return kiln::int_pow(base, exp); }

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
    host_.cpu = jtmb.getCPU();
    host_.features = jtmb.getFeatures().getString();
    host_.avx512 = host_.features.find("+avx512f") != std::string::npos;
    bool avx2 = host_.features.find("+avx2") != std::string::npos;
    host_.vector_bytes = host_.avx512 ? 64 : avx2 ? 32 : 16;
    // Cache sizes shape GEMM blocking (emit_gemm.cpp), so they are part of the target (and of
    // disk-cache keys). A virtual machine that reports none gets Zen 3's.
    if (long l1 = ::sysconf(_SC_LEVEL1_DCACHE_SIZE); l1 > 0) host_.l1d_bytes = l1;
    if (long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE); l2 > 0) host_.l2_bytes = l2;
    target_ = fmt::format("{} {} l1d={} l2={}", host_.cpu, host_.features, host_.l1d_bytes,
                          host_.l2_bytes);
    jtmb_ = jtmb;
    jit_ =
        check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(), "create LLJIT");
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
    bind("kiln_gemm_scratch", &kiln_gemm_scratch);
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

  // Thread-safe: kernels of one program compile in parallel (each in its own LLVMContext with
  // this thread's TargetMachine); only loading into the shared LLJIT takes the lock.
  CompiledKernel compile(const Kernel& k, const CompileOptions& opts) {
    auto t0 = std::chrono::steady_clock::now();
    CompiledKernel out;
    std::optional<CompileTiming> timing;
    if (opts.keep_timing) timing.emplace();
    std::unique_ptr<llvm::TargetMachine> other_tm;
    HostTarget target = host_;
    if (!opts.cpu.empty()) std::tie(other_tm, target) = other_target(opts.cpu);
    llvm::TargetMachine& tm = other_tm ? *other_tm : target_machine();
    llvm::LLVMContext ctx;
    auto m = emit_llvm(k, ctx, target);
    m->setDataLayout(tm.createDataLayout());
    m->setTargetTriple(tm.getTargetTriple().str());
    if (timing) {
      timing->phase("emit");
      timing->size("emitted", *m);
    }
    if (opts.keep_llvm_ir) out.llvm_ir = print(*m);
    optimize(*m, tm, pipeline(k), timing ? &*timing : nullptr);
    use_streaming_stores(*m, k);
    if (timing) {
      timing->phase("optimize");
      timing->size("optimized", *m);
    }
    if (opts.keep_llvm_ir) out.llvm_ir_optimized = print(*m);
    if (opts.keep_asm) out.assembly = assembly(*m, tm);
    if (other_tm) return out;
    // Generate the object ourselves and link it like a disk-cache hit would, so a cached
    // kernel runs exactly the code a fresh compile runs.
    std::string obj = object_code(*m, tm);
    if (timing) timing->phase("codegen");
    out.fn = load(k.name, obj);
    if (timing) {
      timing->phase("load");
      out.timing = timing->report();
    }
    if (opts.keep_object) out.object = std::move(obj);
    out.compile_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  KernelFn load(const std::string& name, std::string_view object) {
    std::lock_guard<std::mutex> lock(mu_);
    return load_locked(name, object);
  }

  const std::string& target() const { return target_; }

private:
  static std::string print(const llvm::Module& m) {
    std::string s;
    llvm::raw_string_ostream os(s);
    m.print(os, nullptr);
    return os.str();
  }

  // A target machine for the x86-64 CPU `cpu` (not the host's) and what code generation needs
  // to know of it: LLVM's features for that CPU, the host's cache sizes.
  std::pair<std::unique_ptr<llvm::TargetMachine>, HostTarget> other_target(const std::string& cpu) {
    // Checked with the host's subtarget first: LLVM would print a warning and carry on.
    if (!target_machine().getMCSubtargetInfo()->isCPUStringValid(cpu))
      fail("codegen",
           "LLVM {} knows no x86-64 CPU '{}' (expected a name such as znver3, znver4, "
           "skylake-avx512)",
           LLVM_VERSION_STRING, cpu);
    llvm::orc::JITTargetMachineBuilder b(jtmb_.getTargetTriple());
    b.setCPU(cpu);
    b.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
    auto tm = check(b.createTargetMachine(), "create target machine");
    const llvm::MCSubtargetInfo* sti = tm->getMCSubtargetInfo();
    HostTarget t = host_;
    t.cpu = cpu;
    t.features = ""; // the CPU's own
    t.avx512 = sti->checkFeatures("+avx512f");
    t.vector_bytes = t.avx512 ? 64 : sti->checkFeatures("+avx2") ? 32 : 16;
    return {std::move(tm), t};
  }

  // A TargetMachine is not safe to share between threads compiling at once.
  llvm::TargetMachine& target_machine() {
    thread_local std::unique_ptr<llvm::TargetMachine> tm;
    if (!tm) {
      std::lock_guard<std::mutex> lock(mu_);
      tm = check(jtmb_.createTargetMachine(), "create target machine");
    }
    return *tm;
  }

  // -O3 for most kernels; pipeline() says which kernels get which.
  enum class Pipeline { O3, O3Rolled, Gemm };

  // A kernel of little work runs in microseconds however it is compiled, but -O3's loop
  // unrolling made it 5-15x larger and costlier to compile (up to 120 ms for the 2560 elements
  // of a [256, 10] loss kernel; ~200 ms for the 98K-iteration column sums of a transformer's
  // gradients): its loops stay rolled, still vectorized and interleaved. Up to ~1M iterations
  // (4 MB of f32 read: 10-100 us) unrolling bought nothing measurable in the W4 step or the
  // char_transformer step, and the char_transformer sample's cold compile took 7.9 s of CPU
  // instead of 12.9 s.
  static Pipeline pipeline(const Kernel& k) {
    if (match_gemm(k) || match_attention_kernel(k)) return Pipeline::Gemm;
    constexpr int64_t kLittleWork = int64_t{1} << 20; // loop iterations of the whole kernel
    // A stage of several loops is unrolled whole where each is short: LLVM unrolls the inner
    // one, then the outer one around it (a [12, 64] column sum became 14,000 instructions and
    // 3.5 s of compile); its loops stay rolled too.
    bool nested_stage =
        std::any_of(k.stages.begin(), k.stages.end(), [](const auto& s) { return s.size() > 1; });
    if (nested_stage) return Pipeline::O3Rolled;
    if (k.symbolic()) return Pipeline::O3; // its work is not known here
    return k.domain_size() * k.inner_size() <= kLittleWork ? Pipeline::O3Rolled : Pipeline::O3;
  }

  void optimize(llvm::Module& m, llvm::TargetMachine& tm, Pipeline which, CompileTiming* timing) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions pto;
    pto.LoopVectorization = true;
    pto.SLPVectorization = true;
    pto.LoopUnrolling = which != Pipeline::O3Rolled;
    llvm::PassInstrumentationCallbacks pic;
    if (timing) timing->instrument(pic);
    llvm::PassBuilder pb(&tm, pto, std::nullopt, &pic);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    if (which == Pipeline::Gemm)
      gemm_pipeline().run(m, mam);
    else
      pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
  }

  // A GEMM kernel (emit_gemm.cpp) comes emitted in nearly its final form: a vector microkernel,
  // packing loops and an epilogue. Of -O3 it needs the cleanup (CSE, combining, invariant code
  // hoisted out of the loops), the removal of the loops its sizes leave empty or run once, and
  // the vectorizers for the packing and epilogue loops. -O3's whole pipeline was ~70% of a
  // GEMM kernel's compile time (IndVarSimplify and InstCombine over its ~30 loops; see
  // KILN_DUMP=llvm-time), this one takes a third of that, and W4 and W5 ran as fast within the
  // noise of our shared machines (issue 10: a cold W4 step compiles in under 1 s). A fused
  // attention kernel (emit_attention.cpp) is built the same way: ~300 -> ~170 ms to compile
  // the char_transformer's, W6 and W6-causal as fast.
  static llvm::ModulePassManager gemm_pipeline() {
    auto loops = [](auto... passes) {
      llvm::LoopPassManager lpm;
      (lpm.addPass(std::move(passes)), ...);
      return llvm::createFunctionToLoopPassAdaptor(std::move(lpm), /*UseMemorySSA=*/true);
    };
    llvm::FunctionPassManager fpm;
    fpm.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/true));
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    fpm.addPass(loops(llvm::LoopRotatePass(), llvm::LICMPass(llvm::LICMOptions())));
    fpm.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LoopDeletionPass()));
    fpm.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LoopFullUnrollPass(3)));
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    fpm.addPass(llvm::LoopVectorizePass());
    fpm.addPass(llvm::SLPVectorizerPass());
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    fpm.addPass(loops(llvm::LICMPass(llvm::LICMOptions())));
    llvm::ModulePassManager mpm;
    mpm.addPass(llvm::AlwaysInlinerPass()); // the kernel's noalias body into its entry
    mpm.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(fpm)));
    return mpm;
  }

  std::string object_code(llvm::Module& m, llvm::TargetMachine& tm) {
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_ObjectFile))
      fail("codegen", "the target machine cannot emit object files");
    pm.run(m);
    return std::string(buf.str());
  }

  // One JITDylib per loaded object: loading a kernel again (a test that clears the in-memory
  // cache, a recompile after a rejected disk entry) must not clash with its first definition.
  KernelFn load_locked(const std::string& name, std::string_view object) {
    auto jd = jit_->createJITDylib(fmt::format("kiln.{}", dylibs_++));
    if (!jd) fail("codegen", "create JITDylib for {}: {}", name, to_string_err(jd.takeError()));
    jd->addToLinkOrder(jit_->getMainJITDylib()); // process symbols and the bound math functions
    auto buf =
        llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), name);
    if (auto e = jit_->addObjectFile(*jd, std::move(buf)))
      fail("codegen", "load object of {}: {}", name, to_string_err(std::move(e)));
    auto addr = jit_->lookup(*jd, name);
    if (!addr)
      fail("codegen", "look up {} in its object: {}", name, to_string_err(addr.takeError()));
    if (perf_map_enabled()) add_to_perf_map(name, addr->getValue(), object);
    return addr->toPtr<KernelFn>();
  }

  std::string assembly(llvm::Module& m, llvm::TargetMachine& tm) {
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_AssemblyFile))
      return "<no assembly printer>";
    auto clone = llvm::CloneModule(m);
    pm.run(*clone);
    return std::string(buf.str());
  }

  std::mutex mu_;
  HostTarget host_;
  std::string target_;
  int64_t dylibs_ = 0;
  llvm::orc::JITTargetMachineBuilder jtmb_{llvm::Triple()};
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

Jit& jit() {
  static Jit j;
  return j;
}

} // namespace

CompiledKernel compile(const Kernel& k, const CompileOptions& opts) {
  return jit().compile(k, opts);
}
KernelFn load_object(const std::string& name, std::string_view object) {
  return jit().load(name, object);
}
const std::string& host_target() { return jit().target(); }
const std::string& llvm_version() {
  static const std::string v = LLVM_VERSION_STRING;
  return v;
}

} // namespace kiln::cpu
