// Shared helpers for the kiln tests: value comparison, reference checks and seeded inputs.
#pragma once
#include "codegen/backend.h"

#include <catch2/catch.hpp>
#include <kiln/kiln.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

// Tests of what only LLVM code does (its assembly, its speed) pass with a warning when kernels run
// through another backend (a KILN_LLVM=OFF build, or KILN_BACKEND=interp).
#define KILN_NEEDS_LLVM()                                                                          \
  if (kiln::backend_for(kiln::Device::cpu(), kiln::options().backend).name() != "llvm") {          \
    WARN("skipped: kernels do not run through LLVM here");                                         \
    return;                                                                                        \
  }

namespace kt {

// Whether kernels run through the LLVM backend here (not in a KILN_LLVM=OFF build, nor with
// KILN_BACKEND=interp).
// The kiln::Error message of f(), which must throw one (any other exception fails the test).
template <typename F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  FAIL("expected a kiln::Error");
  return "";
}

inline bool runs_llvm() {
  return kiln::backend_for(kiln::Device::cpu(), kiln::options().backend).name() == "llvm";
}

using kiln::DType;
using kiln::Shape;
using kiln::Tensor;

inline std::string shape_s(const Shape& s) { return kiln::shape_str(s); }
inline std::string dtype_s(DType t) { return std::string(kiln::dtype_name(t)); }

inline bool values_close(double g, double r, double rtol, double atol) {
  if (std::isnan(g) || std::isnan(r)) return std::isnan(g) && std::isnan(r);
  if (g == r) return true; // also equal infinities
  if (std::isinf(g) || std::isinf(r)) return false;
  return std::fabs(g - r) <= atol + rtol * std::fabs(r);
}

// Compares shapes, dtypes and values; integer and bool dtypes must match exactly.
inline void check_close(const Tensor& got, const Tensor& ref, double rtol = 1e-5,
                        double atol = 1e-6) {
  REQUIRE(got.defined());
  REQUIRE(ref.defined());
  INFO("got " << dtype_s(got.dtype()) << shape_s(got.shape()) << ", ref " << dtype_s(ref.dtype())
              << shape_s(ref.shape()));
  REQUIRE(got.shape() == ref.shape());
  REQUIRE(got.dtype() == ref.dtype());
  std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  REQUIRE(g.size() == r.size());
  bool exact = !kiln::is_float(got.dtype());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    bool ok = exact ? (g[i] == r[i]) : values_close(g[i], r[i], rtol, atol);
    if (!ok) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  }
  if (bad) {
    std::ostringstream os;
    os.precision(9);
    os << bad << " of " << g.size() << " elements differ; first at flat index " << first << ": got "
       << g[first] << ", expected " << r[first] << " (rtol " << rtol << ", atol " << atol << ")";
    if (g.size() <= 64) {
      os << "\n got: ";
      for (double v : g) os << v << " ";
      os << "\n ref: ";
      for (double v : r) os << v << " ";
    }
    INFO(os.str());
    CHECK(bad == 0);
  } else {
    CHECK(bad == 0);
  }
}

// The compiled result of t against the reference interpreter's result for the same graph.
inline void check_vs_reference(const Tensor& t, double rtol = 1e-5, double atol = 1e-6) {
  Tensor ref = kiln::reference(t); // t is not realized by this
  check_close(t, ref, rtol, atol);
}

// Compares values with hand-computed ones (shape given or 1-D of the vector's length).
inline void check_values(const Tensor& got, const std::vector<double>& expected, double rtol = 1e-5,
                         double atol = 1e-6) {
  INFO("got " << got.str());
  std::vector<double> g = got.to_vector<double>();
  REQUIRE(g.size() == expected.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("index " << i << ": got " << g[i] << ", expected " << expected[i]);
    CHECK(values_close(g[i], expected[i], rtol, atol));
  }
}

// A parameter for optimizer tests: an f64 leaf that requires grad.
inline Tensor param(std::vector<double> v) {
  Tensor p = kiln::tensor(v);
  p.requires_grad_();
  return p;
}

// Seeded random input of any dtype, realized as a host buffer: floats uniform in [lo, hi),
// integers uniform in [lo, hi), bools 0/1. Uses the global generator unless gen is given.
inline Tensor random_input(const Shape& shape, DType dtype, double lo = -3, double hi = 3,
                           kiln::Generator* gen = nullptr) {
  kiln::Generator& g = gen ? *gen : kiln::default_generator();
  if (dtype == DType::U8 && lo < 0) lo = 0, hi = std::max(hi, 1.0);
  int64_t n = kiln::numel(shape);
  switch (dtype) {
  case DType::F32: {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(lo + (hi - lo) * g.uniform());
    return kiln::tensor(v, shape);
  }
  case DType::F64: {
    std::vector<double> v(n);
    for (auto& x : v) x = lo + (hi - lo) * g.uniform();
    return kiln::tensor(v, shape);
  }
  case DType::Bool:
    return kiln::randint(0, 2, shape, DType::Bool, &g);
  default:
    return kiln::randint(static_cast<int64_t>(std::floor(lo)), static_cast<int64_t>(std::ceil(hi)),
                         shape, dtype, &g);
  }
}

// Small integer values (so comparisons see ties) in any dtype, as a realized buffer.
inline Tensor small_ints(const Shape& shape, DType dtype, int64_t lo = -2, int64_t hi = 3,
                         kiln::Generator* gen = nullptr) {
  if (dtype == DType::U8 && lo < 0) lo = 0;
  if (dtype == DType::Bool) lo = 0, hi = 2;
  return kiln::reference(kiln::randint(lo, hi, shape, DType::I64, gen).to(dtype));
}

inline const std::vector<DType>& float_dtypes() {
  static const std::vector<DType> v{DType::F32, DType::F64};
  return v;
}
inline const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> v{DType::F32, DType::F64, DType::I32,
                                    DType::I64, DType::U8,  DType::Bool};
  return v;
}
inline const std::vector<DType>& numeric_dtypes() {
  static const std::vector<DType> v{DType::F32, DType::F64, DType::I32, DType::I64, DType::U8};
  return v;
}

// Default tolerance for comparing a compiled result of this dtype with the interpreter.
inline double rtol_for(DType t) { return t == DType::F64 ? 1e-12 : 2e-5; }
inline double atol_for(DType t) { return t == DType::F64 ? 1e-12 : 1e-6; }

} // namespace kt
