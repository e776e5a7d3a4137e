// Static shapes: a list of extents, row-major strides, size checks and printing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;

// The largest tensor kiln makes, in bytes (2^62): element counts, byte sizes, strides and flat
// offsets of a shape that passes shape_fits() then fit in int64, and no allocator is asked for
// more.
constexpr int64_t kMaxTensorBytes = int64_t(1) << 62;

// Whether a tensor of this shape with elements of elem_size bytes may exist: every extent >= 0,
// and the product of elem_size and the nonzero extents below kMaxTensorBytes (so the strides of
// an empty tensor fit too). Cheap enough for every node created.
bool shape_fits(const Shape& s, size_t elem_size);
// Why it may not, for error messages ("shape [...] has a negative extent ..."); "" when it fits.
std::string shape_problem(const Shape& s, size_t elem_size);

int64_t numel(const Shape& s); // of a shape that fits
// Row-major element strides of a contiguous tensor of this shape.
std::vector<int64_t> contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s); // "[2, 3]"

} // namespace kiln
