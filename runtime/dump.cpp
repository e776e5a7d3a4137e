#include "runtime/dump.h"

#include "runtime/config.h"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>

namespace kiln {
namespace {
thread_local uint64_t g_program = 0;
thread_local int g_step = 0;
} // namespace

void set_dump_program(uint64_t program_hash) {
  g_program = program_hash;
  g_step = 0;
}

void write_dump(std::string_view stage, std::string_view kernel, const std::string& text) {
  const std::string& dir = options().dump_dir;
  if (dir.empty()) {
    if (kernel.empty() || stage == "kernels")
      fmt::print(stderr, "# ---- {} ----\n{}", stage, text);
    else
      fmt::print(stderr, "{} ---- {} {} ----\n{}\n", stage == "asm" ? "#" : ";", stage, kernel,
                 text);
    return;
  }
  std::string name = kernel.empty()
                         ? fmt::format("p{:016x}.{:02}.{}.ir", g_program, g_step++, stage)
                         : fmt::format("p{:016x}.{}.{}.{}", g_program, kernel, stage,
                                       stage == "asm"       ? "s"
                                       : stage == "kernels" ? "ir"
                                                            : "ll");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
  out << text;
  if (!out) fmt::print(stderr, "kiln: warning: cannot write dump {}/{}\n", dir, name);
}

} // namespace kiln
