// Sliding windows over the spatial axes of [N, C, H, W] as pure views (no copies), shared by
// convolution and pooling; and a way to ask for a materialized copy.
#pragma once
#include "kiln/nn/size2.h"
#include "kiln/tensor.h"

namespace kiln::nn::detail {

// Output extent of a window of `kernel` taps, `dilation` apart, moved by `stride` over `extent`
// (already padded); 0 or less when the window does not fit.
int64_t window_count(int64_t extent, int64_t kernel, int64_t stride, int64_t dilation);

// x [N, C, H, W] (padded by the caller) -> [N, C, KH, OH, KW, OW] with
// out[n, c, i, oh, j, ow] = x[n, c, oh * stride.h + i * dilation.h, ow * stride.w + j *
// dilation.w].
Tensor windows2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 dilation, Loc loc);

// The same values, computed into a buffer of their own when the graph runs: consumers then
// read plain strided memory instead of re-evaluating t's index arithmetic per use. With
// `gradient`, the gradient flowing back through it is written to a buffer of its own too.
Tensor materialize(const Tensor& t, bool gradient, Loc loc);

} // namespace kiln::nn::detail
