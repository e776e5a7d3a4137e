// Static shapes: a list of extents, row-major strides, and printing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
// Row-major element strides of a contiguous tensor of this shape.
std::vector<int64_t> contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s); // "[2, 3]"

} // namespace kiln
