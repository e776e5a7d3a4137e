// The helper functions every generated CUDA source starts with (NVRTC has no <cstdint>: only
// builtin types are used).
#pragma once
#include <string_view>

namespace kiln::cuda {

std::string_view cuda_prelude();

} // namespace kiln::cuda
