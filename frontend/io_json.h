// A small JSON reader and string escaper for the safetensors header (frontend-internal).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::io::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  bool integral = false; // a number written without fraction or exponent
  int64_t integer = 0;   // its value, when integral and in range
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object; // in file order
  const Value* find(std::string_view key) const;
};

// Parses one JSON value (RFC 8259; nesting at most 64 deep). Throws kiln::Error with the
// byte offset of the first problem, prefixed by `what` (e.g. "[load_safetensors] f: header").
Value parse(std::string_view text, const std::string& what);

// s as a JSON string literal, quotes included.
std::string quote(std::string_view s);

} // namespace kiln::io::json
