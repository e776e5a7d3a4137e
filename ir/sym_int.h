// Integers of kernel IR that may depend on a size known only at run time (a symbolic batch or
// sequence length): loop extents, buffer element counts and index constants.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// c0 + c1*S + c2*S^2, where S is the value of the kernel's i64 parameter `param` (quadratic
// covers attention's T*T). Concrete when param < 0, and then c1 == c2 == 0. It has no conversion
// to int64_t: code that needs a number asks value(), which throws on a symbolic one, so no
// backend can silently run a symbolic kernel at the size it happened to be generalised from.
struct SymInt {
  int64_t c0 = 0, c1 = 0, c2 = 0;
  int param = -1;

  SymInt() = default;
  SymInt(int64_t v) : c0(v) {} // NOLINT(google-explicit-constructor): a concrete extent
  // Normalised: a polynomial without S terms is concrete.
  static SymInt poly(int param, int64_t c0, int64_t c1, int64_t c2);

  bool symbolic() const { return param >= 0; }
  int64_t value() const;       // the concrete value; throws kiln::Error when symbolic
  int64_t at(int64_t s) const; // the value with S = s; throws kiln::Error on overflow
  bool operator==(const SymInt&) const = default;
};

// "784*p0", "p0^2-3*p0+1", "12": a polynomial in the parameter's name, no spaces.
std::string sym_str(const SymInt& v);
std::string sym_str(const std::vector<SymInt>& v); // "[784*p0, 10]"

std::vector<SymInt> to_sym(const std::vector<int64_t>& v);
bool any_symbolic(const std::vector<SymInt>& v);
// The values, each with its symbol's value from params_i64 (indexed by parameter number).
std::vector<int64_t> sym_values(const std::vector<SymInt>& v,
                                const std::vector<int64_t>& params_i64);
// Of concrete extents only (throws kiln::Error naming the symbolic one otherwise).
std::vector<int64_t> concrete(const std::vector<SymInt>& v);
int64_t numel(const std::vector<SymInt>& v);

} // namespace kiln
