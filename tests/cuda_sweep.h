// The seeded set of traced graphs the CUDA checks run: every kernel family (elementwise,
// broadcast, reductions over every axis, softmax, layernorm, matmul, conv2d, views, attention)
// in f32, f64 and integer dtypes at odd sizes. Shared by test_cuda_codegen.cpp (NVRTC compile in CI) and
// kiln_cuda_sweep, which writes them as graph-IR text for kiln_cuda_check on a GPU machine.
#pragma once
#include "kiln/kiln.h"

#include <string>
#include <vector>

namespace kiln::cuda_sweep {

struct Case {
  std::string name;
  std::vector<Tensor> outputs;
};

// Correctness cases; with `timing`, also the large timed workloads (names start "W").
std::vector<Case> cases(bool timing = false);

// "### <name>" then the graph text of each case (inputs as `buffer` lines: data comes later).
std::string to_text(const std::vector<Case>& cs);

} // namespace kiln::cuda_sweep
