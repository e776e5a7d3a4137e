#include "ir/sym_int.h"

#include "ir/error.h"
#include "ir/shape.h"

#include <fmt/format.h>

namespace kiln {

SymInt SymInt::poly(int param, int64_t c0, int64_t c1, int64_t c2) {
  SymInt v(c0);
  if (c1 || c2) {
    v.c1 = c1;
    v.c2 = c2;
    v.param = param;
  }
  return v;
}

int64_t SymInt::value() const {
  if (symbolic())
    fail("kernel", "extent {} is symbolic: this code needs a concrete size", sym_str(*this));
  return c0;
}

int64_t SymInt::at(int64_t s) const {
  if (!symbolic()) return c0;
  int64_t s2, t2, t1, r;
  if (__builtin_mul_overflow(s, s, &s2) || __builtin_mul_overflow(c2, s2, &t2) ||
      __builtin_mul_overflow(c1, s, &t1) || __builtin_add_overflow(t2, t1, &r) ||
      __builtin_add_overflow(r, c0, &r))
    fail("kernel", "{} overflows int64 at p{} = {}", sym_str(*this), param, s);
  return r;
}

std::string sym_str(const SymInt& v) {
  if (!v.symbolic()) return std::to_string(v.c0);
  std::string s;
  auto term = [&](int64_t c, const std::string& x) {
    if (!c) return;
    if (c < 0)
      s += '-';
    else if (!s.empty())
      s += '+';
    int64_t m = c < 0 ? -c : c; // coefficients stay far from INT64_MIN (fit from sizes)
    if (x.empty())
      s += std::to_string(m);
    else
      s += (m == 1 ? "" : std::to_string(m) + "*") + x;
  };
  std::string p = fmt::format("p{}", v.param);
  term(v.c2, p + "^2");
  term(v.c1, p);
  term(v.c0, "");
  return s;
}

std::string sym_str(const std::vector<SymInt>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + sym_str(v[i]);
  return s + "]";
}

std::vector<SymInt> to_sym(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

bool any_symbolic(const std::vector<SymInt>& v) {
  for (const SymInt& x : v)
    if (x.symbolic()) return true;
  return false;
}

std::vector<int64_t> sym_values(const std::vector<SymInt>& v,
                                const std::vector<int64_t>& params_i64) {
  std::vector<int64_t> out;
  for (const SymInt& x : v) out.push_back(x.symbolic() ? x.at(params_i64.at(x.param)) : x.c0);
  return out;
}

std::vector<int64_t> concrete(const std::vector<SymInt>& v) {
  std::vector<int64_t> out;
  for (const SymInt& x : v) out.push_back(x.value());
  return out;
}

int64_t numel(const std::vector<SymInt>& v) { return numel(concrete(v)); }

} // namespace kiln
