// A compiled program: kernels in order over numbered buffer slots, and its execution.
#pragma once
#include "codegen/backend.h"

#include <memory>

namespace kiln {

struct Program {
  struct Slot {
    DType dtype;
    int64_t numel;
  };
  struct Launch {
    const Backend* backend;
    std::shared_ptr<const Executable> exe;
    std::shared_ptr<const Kernel> kernel;
    std::vector<int> slots;   // buffer slot of each kernel argument
    std::vector<int> params;  // program parameter behind each kernel parameter
    std::vector<int> release; // intermediate slots dead after this launch
    std::vector<int> reuse;   // per argument: the dying input slot an output writes over, or -1
  };
  size_t num_inputs = 0; // slots [0, num_inputs) are the program's leaves, in canonical order
  size_t num_params = 0; // scalar parameters (ConstAttr::param literals), in canonical order
  std::vector<Slot> slots;
  std::vector<Launch> launches;
  std::vector<int> output_slots;
  int64_t peak_bytes = 0; // most bytes of its own buffers live at once (see Stats)
};

// Runs the pipeline and compiles every kernel with `backend` (through the kernel cache).
std::shared_ptr<Program> compile_program(const std::vector<Node*>& outputs,
                                         const std::vector<Node*>& leaves,
                                         const std::vector<Node*>& params, const Backend& backend);

// Executes with the given leaf storages and parameter values; returns the output storages.
std::vector<std::shared_ptr<Storage>>
run_program(const Program& p, const std::vector<std::shared_ptr<Storage>>& inputs,
            const std::vector<Scalar>& params);

} // namespace kiln
