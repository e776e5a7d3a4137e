#include "codegen/cpu/streaming_stores.h"

#include <llvm/Analysis/ValueTracking.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <map>

namespace kiln::cpu {
namespace {

constexpr uint64_t kCacheLine = 64;

// The kernel argument a pointer points into: the entry function loads argument i's buffer from
// slot i of its first parameter (see emit_llvm), and the body is inlined there.
int argument_of(llvm::Value* ptr, llvm::Function& entry, const llvm::DataLayout& dl) {
  auto* buffer = llvm::dyn_cast<llvm::LoadInst>(llvm::getUnderlyingObject(ptr));
  if (!buffer) return -1;
  int64_t offset = 0;
  llvm::Value* table =
      llvm::GetPointerBaseWithConstantOffset(buffer->getPointerOperand(), offset, dl);
  if (table != entry.getArg(0) || offset % 8 != 0) return -1;
  return static_cast<int>(offset / 8);
}

// The vector stores of one basic block into one output, by the cache line they write. A line
// qualifies when the block's stores cover all of it: AVX2 code writes a line as two 32-byte
// stores (the loop vectorizer's <8 x float>), AVX-512 code as one.
class LineCover {
public:
  void add(llvm::StoreInst* st, llvm::Value* base, int64_t offset, uint64_t size) {
    Base& b = bases_[base];
    // A store aligned to a line at a known offset tells where the base sits in its line.
    if (st->getAlign().value() >= kCacheLine) b.phase = ((-offset) % 64 + 64) % 64;
    b.stores.push_back({st, offset, size});
  }
  // Stores that write only whole lines, each line wholly by stores of this block.
  std::vector<llvm::StoreInst*> whole_lines() const {
    std::vector<llvm::StoreInst*> out;
    for (auto& [base, b] : bases_) {
      if (b.phase < 0) continue;
      std::map<int64_t, uint64_t> bytes; // line -> bytes written (a 64-bit mask)
      auto lines = [&](const Store& s) {
        int64_t start = b.phase + s.offset;
        return std::pair{floor_div(start, 64), floor_div(start + int64_t(s.size) - 1, 64)};
      };
      for (const Store& s : b.stores) {
        int64_t start = b.phase + s.offset;
        for (int64_t byte = start; byte < start + int64_t(s.size); ++byte)
          bytes[floor_div(byte, 64)] |= uint64_t{1} << (byte - floor_div(byte, 64) * 64);
      }
      for (const Store& s : b.stores) {
        auto [first, last] = lines(s);
        bool whole = true;
        for (int64_t l = first; l <= last; ++l) whole = whole && bytes[l] == ~uint64_t{0};
        if (whole) out.push_back(s.inst);
      }
    }
    return out;
  }

private:
  static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  struct Store {
    llvm::StoreInst* inst;
    int64_t offset;
    uint64_t size;
  };
  struct Base {
    int64_t phase = -1; // base address mod 64, once known
    std::vector<Store> stores;
  };
  std::map<llvm::Value*, Base> bases_;
};

// An output that grows with the size parameter of a symbolic kernel: large or not at launch.
bool grows(const KArg& a) { return a.output && a.numel.symbolic(); }

// Marks non-temporal the whole-line vector stores of `fn` (a kernel entry) into the outputs
// `streams` selects, and fences them before it returns; false when it marked none.
template <typename Streams>
bool mark_streaming(llvm::Function& fn, const Kernel& k, Streams&& streams) {
  llvm::Module& m = *fn.getParent();
  const llvm::DataLayout& dl = m.getDataLayout();
  auto* one =
      llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(m.getContext(), llvm::APInt(32, 1)));
  auto* nontemporal = llvm::MDNode::get(m.getContext(), {one});
  bool any = false;
  for (llvm::BasicBlock& bb : fn) {
    LineCover cover;
    for (llvm::Instruction& inst : bb) {
      auto* st = llvm::dyn_cast<llvm::StoreInst>(&inst);
      if (!st || !st->getValueOperand()->getType()->isVectorTy()) continue;
      uint64_t size = dl.getTypeStoreSize(st->getValueOperand()->getType());
      if (kCacheLine % size != 0 && size % kCacheLine != 0) continue;
      int arg = argument_of(st->getPointerOperand(), fn, dl);
      if (arg < 0 || arg >= static_cast<int>(k.args.size()) || !streams(k.args[arg])) continue;
      int64_t offset = 0;
      llvm::Value* base =
          llvm::GetPointerBaseWithConstantOffset(st->getPointerOperand(), offset, dl);
      cover.add(st, base, offset, size);
    }
    // Whole cache lines only: a regular store to the rest of a line that a streaming store
    // wrote would fetch it back from memory (im2col's 56-float rows ran 10x slower so).
    for (llvm::StoreInst* st : cover.whole_lines()) {
      st->setMetadata(llvm::LLVMContext::MD_nontemporal, nontemporal);
      any = true;
    }
  }
  if (!any) return false;
  // Non-temporal stores are weakly ordered: fence them before the kernel returns.
  for (llvm::BasicBlock& bb : fn)
    if (auto* ret = llvm::dyn_cast<llvm::ReturnInst>(bb.getTerminator())) {
      llvm::IRBuilder<> b(ret);
      b.CreateIntrinsic(llvm::Intrinsic::x86_sse_sfence, {}, {});
    }
  return true;
}

// Replaces `entry` by a function of its name that calls `streaming` when some growing output
// has at least kStreamingStoreBytes at the launch's size, else the original (renamed).
void dispatch_on_size(llvm::Function* entry, llvm::Function* streaming, const Kernel& k) {
  llvm::Module& m = *entry->getParent();
  std::string name = entry->getName().str();
  entry->setName(name + ".cached");
  entry->setLinkage(llvm::GlobalValue::InternalLinkage);
  streaming->setName(name + ".streaming");
  streaming->setLinkage(llvm::GlobalValue::InternalLinkage);
  auto* fn =
      llvm::Function::Create(entry->getFunctionType(), llvm::GlobalValue::ExternalLinkage, name, m);
  fn->copyAttributesFrom(entry);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(m.getContext(), "entry", fn));
  auto* ptr = llvm::PointerType::getUnqual(m.getContext());
  llvm::Value* large = b.getFalse();
  for (const KArg& a : k.args) {
    if (!grows(a)) continue;
    // args[] holds the buffers, then a pointer to each parameter (runtime/program.cpp).
    auto* slot = b.CreateLoad(
        ptr, b.CreateConstInBoundsGEP1_64(ptr, fn->getArg(0), k.args.size() + a.numel.param));
    llvm::Value* s = b.CreateLoad(b.getInt64Ty(), slot);
    llvm::Value* n =
        b.CreateAdd(b.getInt64(a.numel.c0),
                    b.CreateMul(s, b.CreateAdd(b.getInt64(a.numel.c1),
                                               b.CreateMul(s, b.getInt64(a.numel.c2)))));
    llvm::Value* bytes = b.CreateMul(n, b.getInt64(dtype_size(a.dtype)));
    large = b.CreateOr(large, b.CreateICmpSGE(bytes, b.getInt64(kStreamingStoreBytes)));
  }
  std::vector<llvm::Value*> args;
  for (llvm::Argument& a : fn->args()) args.push_back(&a);
  auto* then = llvm::BasicBlock::Create(m.getContext(), "streaming", fn);
  auto* other = llvm::BasicBlock::Create(m.getContext(), "cached", fn);
  b.CreateCondBr(large, then, other);
  for (auto [block, callee] : {std::pair{then, streaming}, std::pair{other, entry}}) {
    b.SetInsertPoint(block);
    b.CreateCall(callee, args);
    b.CreateRetVoid();
  }
}

} // namespace

void use_streaming_stores(llvm::Module& m, const Kernel& k) {
  llvm::Function* entry = m.getFunction(k.name);
  if (!entry || entry->isDeclaration() || !llvm::Triple(m.getTargetTriple()).isX86()) return;
  auto large = [](const KArg& a) {
    return a.output && !a.numel.symbolic() &&
           a.numel.value() * static_cast<int64_t>(dtype_size(a.dtype)) >= kStreamingStoreBytes;
  };
  // An output of a symbolic size may be small or large: two versions, chosen at launch.
  if (std::any_of(k.args.begin(), k.args.end(), grows)) {
    llvm::ValueToValueMapTy map;
    llvm::Function* streaming = llvm::CloneFunction(entry, map);
    if (mark_streaming(*streaming, k, [&](const KArg& a) { return large(a) || grows(a); })) {
      mark_streaming(*entry, k, large);
      dispatch_on_size(entry, streaming, k);
      return;
    }
    streaming->eraseFromParent();
  }
  mark_streaming(*entry, k, large);
}

} // namespace kiln::cpu
