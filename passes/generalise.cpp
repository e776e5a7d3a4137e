#include "passes/generalise.h"

#include "ir/error.h"
#include "ir/sym_literal.h"
#include "passes/attention_match.h"
#include "passes/gemm_match.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace kiln {
namespace {

using Samples = std::vector<SizedKernel>;

// exact a / b, or nullopt when b does not divide a (or the quotient leaves int64).
std::optional<int64_t> exact_div(__int128 a, __int128 b) {
  if (b == 0 || a % b != 0) return std::nullopt;
  __int128 q = a / b;
  if (q > INT64_MAX || q < INT64_MIN) return std::nullopt;
  return static_cast<int64_t>(q);
}

// The integer polynomial of degree < min(3, n) through the points (sizes[j], values[j]):
// concrete when they agree; nullopt when no polynomial with integer coefficients fits all.
std::optional<SymInt> fit(const std::vector<int64_t>& sizes, const std::vector<int64_t>& values,
                          int param) {
  if (std::all_of(values.begin(), values.end(), [&](int64_t v) { return v == values[0]; }))
    return SymInt(values[0]);
  __int128 s0 = sizes[0], s1 = sizes[1], v0 = values[0], v1 = values[1];
  int64_t c2 = 0;
  if (sizes.size() >= 3) { // divided differences: c2 = f[s0, s1, s2]
    __int128 s2 = sizes[2], v2 = values[2];
    auto q =
        exact_div((v2 - v1) * (s1 - s0) - (v1 - v0) * (s2 - s1), (s2 - s1) * (s1 - s0) * (s2 - s0));
    if (!q) return std::nullopt;
    c2 = *q;
  }
  __int128 w0 = v0 - c2 * s0 * s0, w1 = v1 - c2 * s1 * s1;
  auto c1 = exact_div(w1 - w0, s1 - s0);
  if (!c1) return std::nullopt;
  __int128 c0 = w0 - *c1 * s0;
  if (c0 > INT64_MAX || c0 < INT64_MIN) return std::nullopt;
  SymInt p = SymInt::poly(param, static_cast<int64_t>(c0), *c1, c2);
  for (size_t j = 0; j < sizes.size(); ++j) {
    try {
      if (p.at(sizes[j]) != values[j]) return std::nullopt;
    } catch (const Error&) { // overflow
      return std::nullopt;
    }
  }
  return p;
}

// The integer a literal stands for, when it is one that a size could give.
std::optional<int64_t> literal_integer(const KInst& in) {
  if (in.dtype == DType::Bool) return std::nullopt;
  if (!is_float(in.dtype)) return in.value.i;
  double f = in.value.f;
  if (!(std::fabs(f) <= 9007199254740992.0) || f != std::floor(f)) return std::nullopt;
  return static_cast<int64_t>(f);
}

// The integer q with num / q == f, near enough to be checked exactly afterwards.
std::optional<int64_t> denominator(double num, double f) {
  if (!std::isfinite(f) || f == 0) return std::nullopt;
  double q = num / f, r = std::nearbyint(q);
  if (!(std::fabs(r) <= 9007199254740992.0) || std::fabs(q - r) > 1e-6 * std::fabs(q))
    return std::nullopt;
  return static_cast<int64_t>(r);
}

class Generaliser {
public:
  explicit Generaliser(const Samples& s) : samples_(s) {
    for (auto& x : s) sizes_.push_back(x.size);
  }
  std::optional<Kernel> run();
  std::string why; // what refused

private:
  std::nullopt_t refuse(std::string reason) {
    why = std::move(reason);
    return std::nullopt;
  }
  // The fit of one integer read from every sample.
  template <typename F> std::optional<SymInt> fit_each(F&& get) const {
    std::vector<int64_t> v;
    for (auto& x : samples_) v.push_back(get(*x.kernel));
    return fit(sizes_, v, param_);
  }
  std::string structure_difference() const;
  std::optional<KInst> generalise_inst(size_t i) const;

  const Samples& samples_;
  std::vector<int64_t> sizes_;
  int param_ = 0;
};

// Where the samples differ in more than the integers generalise() may fit ("" nowhere).
std::string Generaliser::structure_difference() const {
  const Kernel& a = *samples_[0].kernel;
  for (auto& x : samples_) {
    const Kernel& b = *x.kernel;
    auto at = [&](std::string_view what) {
      return fmt::format("{} and {} (sizes {} and {}) differ in {}", a.name, b.name,
                         samples_[0].size, x.size, what);
    };
    if (b.symbolic()) return fmt::format("{} is symbolic already", b.name);
    if (kernel_name_prefix(b.name) != kernel_name_prefix(a.name)) return at("their ops");
    if (b.params != a.params) return at("parameters");
    if (b.args.size() != a.args.size()) return at("argument count");
    if (b.domain.size() != a.domain.size()) return at("domain rank");
    if (b.stages.size() != a.stages.size()) return at("stage count");
    if (b.insts.size() != a.insts.size()) return at("instruction count");
    if (b.stores != a.stores) return at("stores");
    for (size_t i = 0; i < a.args.size(); ++i)
      if (a.args[i].dtype != b.args[i].dtype || a.args[i].output != b.args[i].output)
        return at(fmt::format("argument a{}", i));
    for (size_t s = 0; s < a.stages.size(); ++s)
      if (a.stages[s].size() != b.stages[s].size()) return at(fmt::format("stage {}'s rank", s));
    for (size_t i = 0; i < a.insts.size(); ++i) {
      KInst p = a.insts[i], q = b.insts[i];
      if (p.op == Op::Const && q.op == Op::Const) p.value = q.value = Scalar{};
      if (!(p == q)) return at(fmt::format("instruction %{}", i));
    }
  }
  return "";
}

// A literal that differs between the samples becomes a sym (ir/sym_literal.h): the size
// polynomial itself, or a small numerator over it (the -1/B a mean's gradient folds to).
std::optional<KInst> Generaliser::generalise_inst(size_t i) const {
  KInst in = samples_[0].kernel->insts[i];
  if (in.op != Op::Const) return in;
  bool agree = std::all_of(samples_.begin(), samples_.end(), [&](const SizedKernel& x) {
    return x.kernel->insts[i].value == in.value;
  });
  if (agree || in.dtype == DType::Bool) return agree ? std::optional<KInst>(in) : std::nullopt;
  for (double num : {0.0, 1.0, -1.0, 2.0, -2.0}) {
    if (num != 0 && !is_float(in.dtype)) break;
    std::vector<int64_t> v;
    for (auto& x : samples_) {
      auto n = num == 0 ? literal_integer(x.kernel->insts[i])
                        : denominator(num, x.kernel->insts[i].value.f);
      if (!n) break;
      v.push_back(*n);
    }
    auto p = v.size() == samples_.size() ? fit(sizes_, v, param_) : std::nullopt;
    if (!p) continue;
    KInst sym = in;
    sym.op = Op::Sym;
    sym.value = Scalar{num, 0};
    sym.sym = *p;
    // Exactly the samples' literals, or no sym (a float rounding the other way).
    if (std::all_of(samples_.begin(), samples_.end(), [&](const SizedKernel& x) {
          return sym_literal(sym, x.size) == x.kernel->insts[i].value;
        }))
      return sym;
  }
  return std::nullopt;
}

std::optional<Kernel> Generaliser::run() {
  if (samples_.size() < 2) return refuse("fewer than two samples");
  for (size_t j = 1; j < sizes_.size(); ++j)
    for (size_t i = 0; i < j; ++i)
      if (sizes_[i] == sizes_[j]) return refuse(fmt::format("two samples of size {}", sizes_[j]));
  if (std::string d = structure_difference(); !d.empty()) return refuse(d);
  const Kernel& first = *samples_[0].kernel;
  Kernel k;
  k.params = first.params;
  param_ = static_cast<int>(k.params.size());
  k.params.push_back(DType::I64);
  for (size_t a = 0; a < first.args.size(); ++a) {
    auto n = fit_each([&](const Kernel& x) { return x.args[a].numel.value(); });
    if (!n) return refuse(fmt::format("no polynomial fits a{}'s element count", a));
    k.args.push_back({first.args[a].dtype, *n, first.args[a].output});
  }
  for (size_t d = 0; d < first.domain.size(); ++d) {
    auto e = fit_each([&](const Kernel& x) { return x.domain[d].value(); });
    if (!e) return refuse(fmt::format("no polynomial fits domain extent {}", d));
    k.domain.push_back(*e);
  }
  for (size_t s = 0; s < first.stages.size(); ++s) {
    k.stages.emplace_back();
    for (size_t d = 0; d < first.stages[s].size(); ++d) {
      auto e = fit_each([&](const Kernel& x) { return x.stages[s][d].value(); });
      if (!e) return refuse(fmt::format("no polynomial fits stage {}'s extent {}", s, d));
      k.stages[s].push_back(*e);
    }
  }
  for (size_t i = 0; i < first.insts.size(); ++i) {
    auto in = generalise_inst(i);
    if (!in) return refuse(fmt::format("literal %{} is no integer polynomial in the size", i));
    k.insts.push_back(*in);
  }
  k.stores = first.stores;
  // Backends run softmax_sum only as the attention kernel, whose head dim and value width are
  // concrete (passes/attention_match.h).
  bool attention = std::any_of(k.insts.begin(), k.insts.end(),
                               [](const KInst& in) { return in.op == Op::SoftmaxSum; });
  if (attention && !match_attention_kernel(k))
    return refuse(fmt::format("{} is a fused attention kernel whose head dim or value width "
                              "changes with the size: they must be concrete",
                              first.name));
  // A product the packed GEMM computes at these sizes but not at every size (its columns N
  // vary) runs as plain loops: fine over one symbolic extent (a [classes, B] product computed
  // transposed), 50x slower when its rows or reduction vary too (a square product).
  int symbolic_extents = static_cast<int>(std::count_if(
      k.domain.begin(), k.domain.end(), [](const SymInt& e) { return e.symbolic(); }));
  for (auto& st : k.stages)
    symbolic_extents += static_cast<int>(
        std::count_if(st.begin(), st.end(), [](const SymInt& e) { return e.symbolic(); }));
  if (symbolic_extents > 1 && !match_gemm(k) &&
      std::any_of(samples_.begin(), samples_.end(),
                  [](const SizedKernel& x) { return match_gemm(*x.kernel).has_value(); }))
    return refuse(fmt::format("{} is a packed GEMM whose column count changes with the size: it "
                              "must be concrete",
                              first.name));
  name_kernel(k, kernel_name_prefix(first.name));
  if (std::string err = verify_kernel(k); !err.empty())
    fail("generalise", "malformed kernel {}: {}\n{}", k.name, err, print_kernel(k));
  return k;
}

} // namespace

std::optional<Kernel> generalise(const std::vector<SizedKernel>& samples, std::string* why) {
  Generaliser g(samples);
  auto k = g.run();
  if (!k && why) *why = g.why;
  return k;
}

Kernel instantiate(const Kernel& k, int64_t s) {
  int p = static_cast<int>(k.params.size()) - 1;
  if (p < 0 || k.params[p] != DType::I64)
    fail("instantiate", "kernel {} has no size parameter (expected its last parameter, i64)",
         k.name);
  auto at = [&](const SymInt& v) {
    if (v.symbolic() && v.param != p)
      fail("instantiate", "kernel {}: {} depends on p{}, not on the size p{}", k.name, sym_str(v),
           v.param, p);
    return v.at(s);
  };
  Kernel out;
  out.params.assign(k.params.begin(), k.params.end() - 1);
  for (const KArg& a : k.args) out.args.push_back({a.dtype, at(a.numel), a.output});
  for (const SymInt& d : k.domain) out.domain.push_back(at(d));
  for (auto& st : k.stages) {
    out.stages.emplace_back();
    for (const SymInt& d : st) out.stages.back().push_back(at(d));
  }
  InstNumbering numbering;
  std::vector<int> id(k.insts.size(), -1);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    KInst in = k.insts[i];
    if (in.op == Op::Param && in.imm == p)
      fail("instantiate", "kernel {}: %{} reads the size parameter p{}", k.name, i, p);
    if (in.op == Op::Sym) {
      at(in.sym); // checks its parameter
      in.op = Op::Const;
      in.value = sym_literal(in, s);
      in.sym = SymInt();
    }
    for (int* x : {&in.a, &in.b, &in.c})
      if (*x >= 0) *x = id[*x];
    id[i] = numbering.add(out, in);
  }
  for (KStore st : k.stores) {
    st.index = id[st.index];
    st.value = id[st.value];
    out.stores.push_back(st);
  }
  name_kernel(out, kernel_name_prefix(k.name));
  if (std::string err = verify_kernel(out); !err.empty())
    fail("instantiate", "kernel {} at size {}: {}", k.name, s, err);
  return out;
}

} // namespace kiln
