// Whole-file reads, atomic writes, and tensor bytes in a chosen byte order.
#include "io_file.h"

#include "kiln/creation.h"
#include "trace.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace kiln::io::detail {
namespace {

bool host_is(bool big_endian) { return (std::endian::native == std::endian::big) == big_endian; }

void swap_elements(std::string& bytes, size_t width) {
  if (width == 1) return;
  for (size_t i = 0; i + width <= bytes.size(); i += width)
    std::reverse(bytes.begin() + i, bytes.begin() + i + width);
}

} // namespace

std::string read_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("[{}] cannot read {}: {}", op, path, std::strerror(errno)));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("[{}] error while reading {}", op, path));
  return std::move(s).str();
}

void write_file(const std::string& path, const std::string& bytes, const char* op) {
  std::string tmp = fmt::format("{}.tmp-{}", path, static_cast<long>(getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("[{}] cannot write {}: {}", op, tmp, std::strerror(errno)));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(fmt::format("[{}] error while writing {}", op, tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw Error(fmt::format("[{}] cannot move {} to {}: {}", op, tmp, path, std::strerror(err)));
  }
}

std::string tensor_bytes(const Tensor& t, bool big_endian) {
  auto storage = trace::host_storage(t);
  std::string out(t.node()->bytes(), '\0');
  if (!out.empty()) std::memcpy(out.data(), storage->data, out.size());
  if (!host_is(big_endian)) swap_elements(out, dtype_size(t.dtype()));
  return out;
}

Tensor tensor_from_bytes(const char* data, const Shape& shape, DType dtype, bool big_endian) {
  std::string bytes(data, static_cast<size_t>(numel(shape)) * dtype_size(dtype));
  if (!host_is(big_endian)) swap_elements(bytes, dtype_size(dtype));
  if (dtype == DType::Bool)
    for (char& c : bytes) c = c != 0; // kiln's bools are exactly 0 or 1
  return from_blob(bytes.data(), shape, dtype);
}

} // namespace kiln::io::detail
