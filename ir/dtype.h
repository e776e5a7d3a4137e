// Element types of kiln tensors and PyTorch-like type promotion.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln {

// Ordered by promotion rank: a binary op of two dtypes of one category takes the larger.
enum class DType : uint8_t { Bool, U8, I32, I64, F32, F64 };

inline constexpr DType kAllDTypes[] = {DType::Bool, DType::U8,  DType::I32,
                                       DType::I64,  DType::F32, DType::F64};

std::string_view dtype_name(DType t);
bool parse_dtype(std::string_view name, DType& out);
size_t dtype_size(DType t);
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F64; }
inline bool is_integer(DType t) { return t == DType::U8 || t == DType::I32 || t == DType::I64; }
inline bool is_signed(DType t) { return t != DType::Bool && t != DType::U8; }
// Category: 0 bool, 1 integer, 2 float.
int dtype_category(DType t);
DType promote(DType a, DType b);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }

// X(T) for the C++ type of every dtype: explicit template instantiations.
#define KILN_FOR_EACH_CPP_TYPE(X) X(bool) X(uint8_t) X(int32_t) X(int64_t) X(float) X(double)

// Calls f(T{}) with the C++ type of a dtype.
template <typename F> decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
  case DType::Bool:
    return f(bool{});
  case DType::U8:
    return f(uint8_t{});
  case DType::I32:
    return f(int32_t{});
  case DType::I64:
    return f(int64_t{});
  case DType::F32:
    return f(float{});
  case DType::F64:
    break;
  }
  return f(double{});
}

} // namespace kiln
