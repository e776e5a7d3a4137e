// Streaming (non-temporal) stores for large outputs, applied after the -O3 pipeline.
#pragma once
#include "ir/kernel.h"

#include <llvm/IR/Module.h>

namespace kiln::cpu {

// Outputs at least this large cannot stay in cache for their reader anyway.
constexpr int64_t kStreamingStoreBytes = 16 << 20;

// Marks non-temporal the vector stores of kernel `k`'s entry function into outputs of at least
// kStreamingStoreBytes: they skip the read of each cache line they overwrite (a third of the
// traffic of a kernel that reads one buffer and writes one). Only stores that write whole cache
// lines together with the other vector stores of their basic block are marked (one 64-byte
// store, or two 32-byte ones on AVX2): x86 splits an unaligned non-temporal store into scalar
// ones, and a line written partly by a streaming store and partly by a regular one ping-pongs to
// memory. A symbolic kernel whose outputs grow with its size gets two versions of its entry, with
// and without streaming stores into them, and runs one by the outputs' size at launch.
void use_streaming_stores(llvm::Module& m, const Kernel& k);

} // namespace kiln::cpu
