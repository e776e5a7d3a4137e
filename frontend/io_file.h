// File and byte helpers shared by the safetensors and .npy readers and writers
// (frontend-internal).
#pragma once
#include "kiln/tensor.h"
#include "trace.h"

#include <string>

namespace kiln::io::detail {

// Runs f; a kiln::Error it throws leaves naming the caller's file:line, like every API error.
template <typename F> auto at_caller(Loc loc, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(fmt::format("{} {}", e.what(), trace::call_site(loc)));
  }
}

// The whole file; kiln::Error "[op] cannot read <path>: <reason>" when it cannot be read.
std::string read_file(const std::string& path, const char* op);
// Writes to <path>.tmp-<pid> and renames it into place, so a reader never sees half a file.
void write_file(const std::string& path, const std::string& bytes, const char* op);

// The tensor's elements, row-major, in little-endian (or big-endian) byte order.
std::string tensor_bytes(const Tensor& t, bool big_endian = false);
// A realized tensor from row-major elements stored in the given byte order. Bools are read as
// nonzero = true.
Tensor tensor_from_bytes(const char* data, const Shape& shape, DType dtype,
                         bool big_endian = false);

} // namespace kiln::io::detail
