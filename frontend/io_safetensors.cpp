// The safetensors format: writer, and a reader that validates the whole header before it
// creates any tensor.
#include "io_file.h"
#include "io_json.h"
#include "kiln/io.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace kiln::io {
namespace {

const char* st_dtype(DType t) {
  switch (t) {
  case DType::Bool:
    return "BOOL";
  case DType::U8:
    return "U8";
  case DType::I32:
    return "I32";
  case DType::I64:
    return "I64";
  case DType::F32:
    return "F32";
  case DType::F64:
    return "F64";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType& out) {
  for (DType t : kAllDTypes)
    if (s == st_dtype(t)) return out = t, true;
  return false;
}

// A header entry, checked.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json::Value& v, const std::string& file) {
  auto bad = [&](const std::string& why) {
    return Error(fmt::format("[load_safetensors] {}: tensor \"{}\": {}", file, name, why));
  };
  if (v.kind != json::Value::Kind::Object) throw bad("header entry is not a JSON object");
  const json::Value *dt = v.find("dtype"), *sh = v.find("shape"), *off = v.find("data_offsets");
  if (!dt || !sh || !off) throw bad("needs \"dtype\", \"shape\" and \"data_offsets\"");
  Entry e{name, DType::F32, {}, 0, 0};
  if (dt->kind != json::Value::Kind::String || !parse_st_dtype(dt->string, e.dtype))
    throw bad(fmt::format("dtype {} is not supported (expected F32, F64, I32, I64, BOOL or U8)",
                          dt->kind == json::Value::Kind::String ? json::quote(dt->string)
                                                                : std::string("(not a string)")));
  if (sh->kind != json::Value::Kind::Array) throw bad("shape is not an array");
  for (auto& d : sh->array) {
    if (d.kind != json::Value::Kind::Number || !d.integral || d.integer < 0)
      throw bad("shape entries must be non-negative integers");
    e.shape.push_back(d.integer);
  }
  if (off->kind != json::Value::Kind::Array || off->array.size() != 2)
    throw bad("data_offsets must be [begin, end]");
  for (auto& o : off->array)
    if (o.kind != json::Value::Kind::Number || !o.integral || o.integer < 0)
      throw bad("data_offsets must be non-negative integers");
  e.begin = static_cast<uint64_t>(off->array[0].integer);
  e.end = static_cast<uint64_t>(off->array[1].integer);
  // Before any count is formed: a shape whose bytes exceed any file is rejected here.
  if (!shape_fits(e.shape, dtype_size(e.dtype)))
    throw bad(shape_problem(e.shape, dtype_size(e.dtype)));
  uint64_t bytes = static_cast<uint64_t>(numel(e.shape)) * dtype_size(e.dtype);
  if (e.end < e.begin || e.end - e.begin != bytes)
    throw bad(fmt::format("data_offsets [{}, {}] hold {} bytes but {} {} needs {}", e.begin, e.end,
                          e.end < e.begin ? 0 : e.end - e.begin, st_dtype(e.dtype),
                          shape_str(e.shape), bytes));
  return e;
}

void write_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  std::string header = "{", data;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (auto& [k, v] : metadata) {
      header += (first ? "" : ",") + json::quote(k) + ":" + json::quote(v);
      first = false;
    }
    header += "}";
  }
  for (auto& [name, t] : tensors) {
    if (!t.defined())
      throw Error(fmt::format("[save_safetensors] {}: tensor \"{}\" is undefined", path, name));
    if (name == "__metadata__" || !names.insert(name).second)
      throw Error(fmt::format("[save_safetensors] {}: name \"{}\" is {}", path, name,
                              name == "__metadata__" ? "reserved" : "used twice"));
    std::string bytes = detail::tensor_bytes(t);
    std::string shape;
    for (size_t d = 0; d < t.shape().size(); ++d)
      shape += (d ? "," : "") + std::to_string(t.shape()[d]);
    header += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          header.size() > 1 ? "," : "", json::quote(name), st_dtype(t.dtype()),
                          shape, data.size(), data.size() + bytes.size());
    data += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' '); // the data starts 8-byte aligned
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i)
    file[i] = static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  detail::write_file(path, file + header + data, "save_safetensors");
}

nn::NamedTensors read_safetensors(const std::string& path,
                                  std::map<std::string, std::string>* metadata) {
  std::string file = detail::read_file(path, "load_safetensors");
  auto fail = [&](const std::string& why) {
    return Error(fmt::format("[load_safetensors] {}: {}", path, why));
  };
  if (file.size() < 8)
    throw fail(
        fmt::format("file of {} bytes is too short for the 8-byte header length", file.size()));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  if (n > file.size() - 8)
    throw fail(fmt::format("header length {} runs past the end of the file ({} bytes): truncated?",
                           n, file.size()));
  json::Value header = json::parse(std::string_view(file).substr(8, n),
                                   fmt::format("[load_safetensors] {}: the header", path));
  if (header.kind != json::Value::Kind::Object) throw fail("the header is not a JSON object");
  std::vector<Entry> entries;
  for (auto& [name, v] : header.object) {
    if (name == "__metadata__") {
      if (v.kind != json::Value::Kind::Object) throw fail("__metadata__ is not a JSON object");
      for (auto& [k, s] : v.object) {
        if (s.kind != json::Value::Kind::String)
          throw fail(fmt::format("__metadata__ value of \"{}\" is not a string", k));
        if (metadata) (*metadata)[k] = s.string;
      }
      continue;
    }
    for (auto& e : entries)
      if (e.name == name) throw fail(fmt::format("tensor \"{}\" appears twice", name));
    entries.push_back(parse_entry(name, v, path));
  }
  // The data must be tiled exactly: sorted by offset, no overlap, no gap, nothing past the end.
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
  uint64_t size = file.size() - 8 - n, at = 0;
  for (auto& e : entries) {
    if (e.begin != at)
      throw fail(fmt::format("tensor \"{}\" starts at byte {} of the data, expected {} ({})",
                             e.name, e.begin, at, e.begin < at ? "it overlaps another" : "a gap"));
    at = e.end;
  }
  if (at != size)
    throw fail(at > size ? fmt::format("the data is {} bytes but the tensors need {}: truncated?",
                                       size, at)
                         : fmt::format("{} bytes of data follow the last tensor", size - at));
  nn::NamedTensors out;
  const char* base = file.data() + 8 + n;
  for (auto& e : entries)
    out.emplace_back(e.name, detail::tensor_from_bytes(base + e.begin, e.shape, e.dtype));
  return out;
}

} // namespace

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata, Loc loc) {
  detail::at_caller(loc, [&] { write_safetensors(path, tensors, metadata); });
}

nn::NamedTensors load_safetensors(const std::string& path,
                                  std::map<std::string, std::string>* metadata, Loc loc) {
  return detail::at_caller(loc, [&] { return read_safetensors(path, metadata); });
}

} // namespace kiln::io
