// A generated kernel as people read it (kiln-opt --emit=cuda): its launch plan as a comment, then
// the kernel's source without the prelude of helpers every kernel shares.
#pragma once
#include "codegen/cuda/cuda_emit.h"

namespace kiln::cuda {

// "// launch: strategy warp_row, grid [1, 1, 1], block [256, 1, 1], dynamic shared 0 bytes"
// and one "// arg ..." line per kernel argument.
std::string launch_plan_comment(const LaunchPlan& p);

std::string cuda_listing(const CudaKernel& k);

} // namespace kiln::cuda
