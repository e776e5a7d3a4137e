// KILN_DUMP output: each stage's text to stderr, or with KILN_DUMP_DIR to files named by program
// hash, kernel name and stage.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

// Names the program whose dumps follow on this thread (compile_program sets it).
void set_dump_program(uint64_t program_hash);
// Writes one dump. kernel is "" for whole-graph stages. Files:
//   <dir>/p<hash>.<nn>.<stage>.ir          graph stages in pipeline order (graph, fold, ...)
//   <dir>/p<hash>.<kernel>.<stage>.<ext>   kernels (.ir), llvm / llvm-opt (.ll), asm (.s)
void write_dump(std::string_view stage, std::string_view kernel, const std::string& text);

} // namespace kiln
