#include "codegen/cuda/nvrtc_library.h"

#include "ir/error.h"

#include <dlfcn.h>
#include <optional>

namespace kiln::cuda {
namespace {

// Empty when `library` opens and has every entry point (then they are in `api`), else
// "<library>: why not".
std::string open_nvrtc(const std::string& library, NvrtcApi& api) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fmt::format("{}: {}", library, dlerror());
  std::string missing;
  auto resolve = [&](const char* name, auto& f) {
    f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(lib, name));
    if (!f && missing.empty()) missing = name;
  };
  resolve("nvrtcVersion", api.version);
  resolve("nvrtcGetErrorString", api.error_string);
  resolve("nvrtcCreateProgram", api.create_program);
  resolve("nvrtcDestroyProgram", api.destroy_program);
  resolve("nvrtcCompileProgram", api.compile_program);
  resolve("nvrtcGetProgramLogSize", api.program_log_size);
  resolve("nvrtcGetProgramLog", api.program_log);
  resolve("nvrtcGetCUBINSize", api.cubin_size);
  resolve("nvrtcGetCUBIN", api.cubin);
  if (missing.empty()) return {};
  dlclose(lib);
  return fmt::format("{} lacks {}", library, missing);
}

struct Loaded {
  std::optional<NvrtcApi> api;
  std::string why;
};

// KILN_NVRTC_SONAME and KILN_NVRTC_PATH come from CMake (the toolkit found at configure time).
Loaded load_once() {
  Loaded out;
  NvrtcApi api;
  for (const char* library : {KILN_NVRTC_SONAME, KILN_NVRTC_PATH}) {
    std::string why = open_nvrtc(library, api);
    if (why.empty()) return {api, {}};
    out.why += (out.why.empty() ? "" : "; ") + why;
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded l = load_once();
  return l;
}

} // namespace

NvrtcApi load_nvrtc(const std::string& library) {
  NvrtcApi api;
  if (std::string why = open_nvrtc(library, api); !why.empty())
    fail("cuda", "NVRTC cannot be loaded from {}", why);
  return api;
}

const NvrtcApi& nvrtc() {
  const Loaded& l = loaded();
  if (!l.api) fail("cuda", "NVRTC is not available: {}", l.why);
  return *l.api;
}

std::string why_nvrtc_unavailable() { return loaded().why; }

} // namespace kiln::cuda
