// NumPy .npy files: the magic, a version, a Python-literal header dict (descr, fortran_order,
// shape), then the raw data.
#include "io_file.h"
#include "kiln/io.h"

#include <charconv>
#include <fmt/format.h>
#include <numeric>

namespace kiln::io {
namespace {

const char kMagic[] = "\x93NUMPY";

const char* descr_of(DType t) {
  switch (t) {
  case DType::Bool:
    return "|b1";
  case DType::U8:
    return "|u1";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  case DType::F32:
    return "<f4";
  case DType::F64:
    return "<f8";
  }
  return "?";
}

struct Header {
  DType dtype = DType::F32;
  bool big_endian = false, fortran = false;
  Shape shape;
};

// Reads the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
class DictReader {
public:
  DictReader(std::string_view t, const std::string& path) : t_(t), path_(path) {}

  Header read() {
    Header h;
    bool seen[3] = {false, false, false};
    expect('{');
    while (!eat('}')) {
      std::string key = str();
      expect(':');
      if (key == "descr")
        seen[0] = true, descr(h);
      else if (key == "fortran_order")
        seen[1] = true, h.fortran = boolean();
      else if (key == "shape")
        seen[2] = true, h.shape = tuple();
      else
        fail(fmt::format("unexpected key '{}'", key));
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    if (!seen[0] || !seen[1] || !seen[2]) fail("needs 'descr', 'fortran_order' and 'shape'");
    return h;
  }

private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(fmt::format("[load_npy] {}: bad header ({}) in {}", path_, why, std::string(t_)));
  }
  void space() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\t')) ++p_;
  }
  bool eat(char c) {
    space();
    if (p_ < t_.size() && t_[p_] == c) return ++p_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(fmt::format("expected '{}'", c));
  }
  std::string str() {
    space();
    if (p_ >= t_.size() || (t_[p_] != '\'' && t_[p_] != '"')) fail("expected a string");
    char q = t_[p_++];
    size_t end = t_.find(q, p_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(t_.substr(p_, end - p_));
    p_ = end + 1;
    return s;
  }
  bool boolean() {
    space();
    if (t_.substr(p_, 4) == "True") return p_ += 4, true;
    if (t_.substr(p_, 5) == "False") return p_ += 5, false;
    fail("fortran_order must be True or False");
  }
  Shape tuple() {
    Shape s;
    expect('(');
    while (!eat(')')) {
      space();
      size_t start = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      if (start == p_) fail("shape entries must be non-negative integers");
      int64_t d = 0;
      if (std::from_chars(t_.data() + start, t_.data() + p_, d).ec != std::errc())
        fail(fmt::format("shape entry {} is too large", t_.substr(start, p_ - start)));
      s.push_back(d);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return s;
  }
  void descr(Header& h) {
    std::string d = str();
    if (d.size() < 2) fail(fmt::format("dtype '{}' is not supported", d));
    char order = d[0];
    std::string code = d.substr(1);
    if (order != '<' && order != '>' && order != '|' && order != '=')
      fail(fmt::format("dtype '{}' is not supported", d));
    h.big_endian = order == '>';
    for (DType t : kAllDTypes)
      if (code == std::string(descr_of(t)).substr(1)) return void(h.dtype = t);
    fail(fmt::format("dtype '{}' is not supported (expected <f4, <f8, <i4, <i8, |b1 or |u1)", d));
  }

  std::string_view t_;
  const std::string& path_;
  size_t p_ = 0;
};

void write_npy(const std::string& path, const Tensor& t) {
  if (!t.defined()) throw Error(fmt::format("[save_npy] {}: the tensor is undefined", path));
  std::string shape; // a Python tuple: (), (3,), (3, 4)
  for (size_t d = 0; d < t.shape().size(); ++d)
    shape += (d ? ", " : "") + std::to_string(t.shape()[d]);
  if (t.dim() == 1) shape += ",";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                 descr_of(t.dtype()), shape);
  // Version 1.0: magic, 1, 0, a 2-byte little-endian header length; header padded with spaces
  // and ended by '\n' so the data starts 64-byte aligned.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 65535)
    throw Error(fmt::format("[save_npy] {}: header of {} bytes is too long for .npy version 1.0",
                            path, dict.size()));
  std::string file(kMagic, 6);
  file += '\x01';
  file += '\x00';
  file += static_cast<char>(dict.size() & 0xFF);
  file += static_cast<char>(dict.size() >> 8);
  detail::write_file(path, file + dict + detail::tensor_bytes(t), "save_npy");
}

Tensor read_npy(const std::string& path) {
  std::string file = detail::read_file(path, "load_npy");
  auto fail = [&](const std::string& why) {
    return Error(fmt::format("[load_npy] {}: {}", path, why));
  };
  if (file.size() < 10 || file.compare(0, 6, kMagic, 6) != 0)
    throw fail("not a .npy file (expected the magic \\x93NUMPY)");
  int major = static_cast<unsigned char>(file[6]);
  if (major < 1 || major > 3)
    throw fail(fmt::format(".npy format version {} is not supported", major));
  size_t len_bytes = major == 1 ? 2 : 4, start = 8 + len_bytes;
  if (file.size() < start) throw fail("truncated header");
  uint64_t len = 0;
  for (size_t i = len_bytes; i-- > 0;) len = (len << 8) | static_cast<unsigned char>(file[8 + i]);
  if (len > file.size() - start)
    throw fail(fmt::format("header of {} bytes runs past the end: truncated?", len));
  Header h = DictReader(std::string_view(file).substr(start, len), path).read();
  if (!shape_fits(h.shape, dtype_size(h.dtype)))
    throw fail(shape_problem(h.shape, dtype_size(h.dtype)));
  uint64_t want = static_cast<uint64_t>(numel(h.shape)) * dtype_size(h.dtype);
  uint64_t have = file.size() - start - len;
  if (have != want)
    throw fail(fmt::format("{} {} needs {} bytes of data but the file has {}{}", descr_of(h.dtype),
                           shape_str(h.shape), want, have, have < want ? ": truncated?" : ""));
  const char* data = file.data() + start + len;
  if (!h.fortran) return detail::tensor_from_bytes(data, h.shape, h.dtype, h.big_endian);
  // Fortran order is C order of the reversed shape: read that, then reverse the axes.
  Shape rev(h.shape.rbegin(), h.shape.rend());
  std::vector<int64_t> axes(rev.size());
  std::iota(axes.rbegin(), axes.rend(), 0);
  Tensor t = detail::tensor_from_bytes(data, rev, h.dtype, h.big_endian).permute(axes);
  return t.realize().detach();
}

} // namespace

void save_npy(const std::string& path, const Tensor& t, Loc loc) {
  detail::at_caller(loc, [&] { write_npy(path, t); });
}

Tensor load_npy(const std::string& path, Loc loc) {
  return detail::at_caller(loc, [&] { return read_npy(path); });
}

} // namespace kiln::io
