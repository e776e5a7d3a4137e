#include "codegen/cpu/perf_map.h"

#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

namespace kiln::cpu {

bool perf_map_enabled() {
  static const bool on = [] {
    const char* s = std::getenv("KILN_PERF_MAP");
    return s && std::string(s) == "1";
  }();
  return on;
}

void add_to_perf_map(std::string_view kernel, uint64_t address, std::string_view object) {
  static FILE* map = std::fopen(("/tmp/perf-" + std::to_string(getpid()) + ".map").c_str(), "a");
  if (!map) return;
  auto obj = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(llvm::StringRef(object.data(), object.size()), "kernel"));
  if (!obj) return llvm::consumeError(obj.takeError());
  // Internal functions (the GEMM microkernel) cannot be looked up by name, but sit in the
  // kernel's own section: their addresses follow from the kernel's.
  struct Fn {
    std::string name;
    uint64_t offset, size;
    uint64_t section;
  };
  std::vector<Fn> fns;
  for (const llvm::object::ELFSymbolRef& sym :
       llvm::cast<llvm::object::ELFObjectFileBase>(obj->get())->symbols()) {
    auto type = sym.getType();
    auto name = sym.getName();
    auto offset = sym.getValue();
    auto section = sym.getSection();
    if (type && name && offset && section && *type == llvm::object::SymbolRef::ST_Function &&
        sym.getSize() > 0)
      fns.push_back(Fn{name->str(), *offset, sym.getSize(), (*section)->getIndex()});
    llvm::consumeError(type.takeError());
    llvm::consumeError(name.takeError());
    llvm::consumeError(offset.takeError());
    llvm::consumeError(section.takeError());
  }
  auto k = std::find_if(fns.begin(), fns.end(), [&](const Fn& f) { return f.name == kernel; });
  if (k == fns.end()) return;
  for (const Fn& f : fns)
    if (f.section == k->section)
      std::fprintf(map, "%llx %llx %s\n",
                   static_cast<unsigned long long>(address - k->offset + f.offset),
                   static_cast<unsigned long long>(f.size), f.name.c_str());
  std::fflush(map);
}

} // namespace kiln::cpu
