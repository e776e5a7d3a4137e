// Persistence: tensors and module state in the safetensors format, and tensors as NumPy .npy
// files, so data moves between kiln and Python (safetensors, numpy, torch) both ways.
#pragma once
#include "kiln/nn/module.h"

#include <map>
#include <string>

namespace kiln::io {

// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// "__metadata__": {string: string}}, then the raw little-endian row-major data. dtypes F32 F64
// I32 I64 BOOL U8. Writes go to a temporary file renamed into place.
void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      Loc loc = Loc::current());
// Every tensor of the file, in the order of their data. Throws kiln::Error naming the file and
// the problem for a truncated or malformed file (bad JSON, unknown dtype, offsets that do not
// match the shape or overlap, leave gaps or run past the end). Every kiln::io error names the
// caller's file:line too.
nn::NamedTensors load_safetensors(const std::string& path,
                                  std::map<std::string, std::string>* metadata = nullptr,
                                  Loc loc = Loc::current());

// A module's state: its parameters, then its buffers, by dotted name ("0.weight",
// "3.running_mean"), like PyTorch's state_dict().
nn::NamedTensors state_dict(const nn::Module& m);
void save_state(const nn::Module& m, const std::string& path, Loc loc = Loc::current());
// Loads a state saved by save_state (or by safetensors.torch.save_file(model.state_dict())).
// Everything is checked before anything is assigned: a missing entry, a shape or dtype that
// differs, or (when strict) an entry the module lacks throws kiln::Error and leaves the module
// unchanged. Values are assigned in place (Tensor::assign), so optimizers keep working.
void load_state(nn::Module& m, const std::string& path, bool strict = true,
                Loc loc = Loc::current());
// The same check-then-assign from tensors in memory.
void load_state(nn::Module& m, const nn::NamedTensors& state, bool strict = true,
                const std::string& source = "state", Loc loc = Loc::current());

// NumPy .npy: writes format version 1.0; reads 1.0, 2.0 and 3.0, either byte order, C or
// Fortran order, for dtypes <f4 <f8 <i4 <i8 |b1 |u1.
void save_npy(const std::string& path, const Tensor& t, Loc loc = Loc::current());
Tensor load_npy(const std::string& path, Loc loc = Loc::current());

} // namespace kiln::io
