// A compiled program: kernels in order over numbered buffer slots, and its execution.
#pragma once
#include "codegen/backend.h"

#include <memory>
#include <optional>

namespace kiln {

struct Program {
  struct Slot {
    DType dtype;
    int64_t numel;
  };
  struct Launch {
    const Backend* backend;
    std::shared_ptr<const Executable> exe;
    std::shared_ptr<const Kernel> kernel; // concrete (the executable's may be symbolic)
    std::vector<int> slots;               // buffer slot of each kernel argument
    // Program parameter behind each kernel parameter; num_params stands for `size`.
    std::vector<int> params;
    std::vector<int> release; // intermediate slots dead after this launch
    std::vector<int> reuse;   // per argument: the dying input slot an output writes over, or -1
  };
  size_t num_inputs = 0; // slots [0, num_inputs) are the program's leaves, in canonical order
  size_t num_params = 0; // scalar parameters (ConstAttr::param literals), in canonical order
  // The size its symbolic kernels run at (runtime/size_family.h), passed after the parameters.
  std::optional<int64_t> size;
  std::vector<Slot> slots;
  std::vector<Launch> launches;
  std::vector<int> output_slots;
  int64_t peak_bytes = 0; // most bytes of its own buffers live at once (see Stats)
};

class SizeFamily;

// Runs the pipeline and compiles every kernel with `backend` (through the kernel cache). With a
// family, the program is one realization of it at `size` of its axis (nullopt: not known yet),
// and reuses the family's symbolic kernels where they fit.
std::shared_ptr<Program> compile_program(const std::vector<Node*>& outputs,
                                         const std::vector<Node*>& leaves,
                                         const std::vector<Node*>& params, const Backend& backend,
                                         SizeFamily* family = nullptr,
                                         std::optional<int64_t> size = {});

// Executes with the given leaf storages and parameter values; returns the output storages.
std::vector<std::shared_ptr<Storage>>
run_program(const Program& p, const std::vector<std::shared_ptr<Storage>>& inputs,
            const std::vector<Scalar>& params);

} // namespace kiln
