#include "ir/dtype.h"

#include <algorithm>

namespace kiln {

std::string_view dtype_name(DType t) {
  switch (t) {
  case DType::Bool:
    return "bool";
  case DType::U8:
    return "u8";
  case DType::I32:
    return "i32";
  case DType::I64:
    return "i64";
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  }
  return "?";
}

bool parse_dtype(std::string_view name, DType& out) {
  for (DType t : kAllDTypes)
    if (dtype_name(t) == name) return out = t, true;
  return false;
}

size_t dtype_size(DType t) {
  switch (t) {
  case DType::Bool:
  case DType::U8:
    return 1;
  case DType::I32:
  case DType::F32:
    return 4;
  case DType::I64:
  case DType::F64:
    return 8;
  }
  return 0;
}

int dtype_category(DType t) { return t == DType::Bool ? 0 : is_integer(t) ? 1 : 2; }

DType promote(DType a, DType b) { return std::max(a, b); }

} // namespace kiln
