#include "codegen/cpu/streaming_stores.h"

#include <llvm/Analysis/ValueTracking.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/TargetParser/Triple.h>

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

} // namespace

void use_streaming_stores(llvm::Module& m, const Kernel& k) {
  llvm::Function* entry = m.getFunction(k.name);
  if (!entry || entry->isDeclaration()) return;
  const llvm::DataLayout& dl = m.getDataLayout();
  auto* one =
      llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(m.getContext(), llvm::APInt(32, 1)));
  auto* nontemporal = llvm::MDNode::get(m.getContext(), {one});
  bool any = false;
  for (llvm::BasicBlock& bb : *entry)
    for (llvm::Instruction& inst : bb) {
      auto* st = llvm::dyn_cast<llvm::StoreInst>(&inst);
      if (!st || !st->getValueOperand()->getType()->isVectorTy()) continue;
      // Whole cache lines only: a regular store to the rest of a line that a streaming store
      // wrote would fetch it back from memory (im2col's 56-float rows ran 10x slower so).
      uint64_t size = dl.getTypeStoreSize(st->getValueOperand()->getType());
      if (size < kCacheLine || size % kCacheLine || st->getAlign().value() < kCacheLine) continue;
      int arg = argument_of(st->getPointerOperand(), *entry, dl);
      if (arg < 0 || arg >= static_cast<int>(k.args.size()) || !k.args[arg].output) continue;
      const KArg& a = k.args[arg];
      if (a.numel * static_cast<int64_t>(dtype_size(a.dtype)) < kStreamingStoreBytes) continue;
      st->setMetadata(llvm::LLVMContext::MD_nontemporal, nontemporal);
      any = true;
    }
  if (!any || !llvm::Triple(m.getTargetTriple()).isX86()) return;
  // Non-temporal stores are weakly ordered: fence them before the kernel returns.
  for (llvm::BasicBlock& bb : *entry)
    if (auto* ret = llvm::dyn_cast<llvm::ReturnInst>(bb.getTerminator())) {
      llvm::IRBuilder<> b(ret);
      b.CreateIntrinsic(llvm::Intrinsic::x86_sse_sfence, {}, {});
    }
}

} // namespace kiln::cpu
