#include "passes/index_expr.h"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <numeric>

namespace kiln {
namespace {

int64_t floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t floormod(int64_t a, int64_t b) { return a - floordiv(a, b) * b; }

IExprPtr make(IExpr e) {
  auto p = std::make_shared<IExpr>(std::move(e));
  switch (p->kind) {
  case IExpr::Kind::Var:
    p->key = fmt::format("i{}", p->c);
    break;
  case IExpr::Kind::RVar:
    p->key = fmt::format("r{}.{}", p->stage, p->c);
    break;
  case IExpr::Kind::Div:
    p->key = fmt::format("({} / {})", p->a->key, p->c);
    break;
  case IExpr::Kind::Mod:
    p->key = fmt::format("({} % {})", p->a->key, p->c);
    break;
  case IExpr::Kind::Lt:
    p->key = fmt::format("({} < {})", p->a->key, p->c);
    break;
  case IExpr::Kind::Ge:
    p->key = fmt::format("({} >= {})", p->a->key, p->c);
    break;
  case IExpr::Kind::And:
    p->key = fmt::format("({} && {})", p->a->key, p->b->key);
    break;
  case IExpr::Kind::Select:
    p->key = fmt::format("({} ? {} : {})", p->cond->key, p->a->key, p->b->key);
    break;
  case IExpr::Kind::Sum: {
    std::string k;
    for (auto& [atom, coef] : p->terms)
      k += fmt::format("{}{}*{}", k.empty() ? "" : " + ", coef, atom->key);
    if (p->c != 0 || k.empty()) k += fmt::format("{}{}", k.empty() ? "" : " + ", p->c);
    p->key =
        p->terms.size() == 1 && p->terms[0].second == 1 && p->c == 0 ? p->terms[0].first->key : k;
    break;
  }
  }
  return p;
}

// Atom of a one-term sum with coefficient 1, so Sum(x) and x compare equal.
IExprPtr as_sum(const IExprPtr& e) {
  if (e->kind == IExpr::Kind::Sum) return e;
  IExpr s{IExpr::Kind::Sum};
  s.terms.push_back({e, 1});
  return make(std::move(s));
}

using TermMap = std::map<std::string, std::pair<IExprPtr, int64_t>>;

void add_terms(TermMap& m, const IExpr& sum, int64_t scale) {
  for (auto& [atom, coef] : sum.terms) {
    auto& slot = m[atom->key];
    slot.first = atom;
    slot.second += coef * scale;
  }
}

// The Div atom x / k in canonical form: (y / m) / k is y / (m * k).
IExprPtr div_atom(const IExprPtr& x, int64_t k) {
  IExpr d{IExpr::Kind::Div};
  d.a = x;
  d.c = k;
  const IExpr& s = *x;
  if (s.kind == IExpr::Kind::Sum && s.terms.size() == 1 && s.c == 0 && s.terms[0].second == 1 &&
      s.terms[0].first->kind == IExpr::Kind::Div) {
    d.a = s.terms[0].first->a;
    d.c = s.terms[0].first->c * k;
  }
  return make(std::move(d));
}

// Rewrites k*(x/k)*m + (x%k)*m into x*m wherever both halves appear.
bool fold_div_mod(TermMap& m, int64_t& constant) {
  for (auto& [key, entry] : m) {
    auto& [atom, coef] = entry;
    if (atom->kind != IExpr::Kind::Mod || coef == 0) continue;
    auto d = m.find(div_atom(atom->a, atom->c)->key);
    if (d == m.end() || d->second.second != coef * atom->c) continue;
    int64_t scale = coef;
    d->second.second = 0;
    coef = 0;
    const IExpr& inner = *atom->a;
    add_terms(m, inner, scale);
    constant += inner.c * scale;
    return true;
  }
  return false;
}

IExprPtr build_sum(TermMap m, int64_t constant) {
  while (fold_div_mod(m, constant)) {
  }
  IExpr s{IExpr::Kind::Sum};
  s.c = constant;
  for (auto& [key, entry] : m)
    if (entry.second != 0) s.terms.push_back(entry);
  return make(std::move(s));
}

} // namespace

IExprPtr iconst(int64_t c) {
  IExpr s{IExpr::Kind::Sum};
  s.c = c;
  return make(std::move(s));
}
IExprPtr ivar(int axis) {
  IExpr v{IExpr::Kind::Var};
  v.c = axis;
  return as_sum(make(std::move(v)));
}
IExprPtr irvar(int stage, int axis) {
  IExpr v{IExpr::Kind::RVar};
  v.c = axis;
  v.stage = stage;
  return as_sum(make(std::move(v)));
}

bool is_const(const IExprPtr& e, int64_t* value) {
  if (e->kind != IExpr::Kind::Sum || !e->terms.empty()) return false;
  if (value) *value = e->c;
  return true;
}

Range irange(const IExprPtr& e, const IndexContext& ctx) {
  switch (e->kind) {
  case IExpr::Kind::Var:
    return {0, std::max<int64_t>(ctx.domain.at(e->c) - 1, 0)};
  case IExpr::Kind::RVar:
    return {0, std::max<int64_t>(ctx.stages.at(e->stage).at(e->c) - 1, 0)};
  case IExpr::Kind::Div: {
    Range r = irange(e->a, ctx);
    return {floordiv(r.lo, e->c), floordiv(r.hi, e->c)};
  }
  case IExpr::Kind::Mod: {
    Range r = irange(e->a, ctx);
    if (r.lo >= 0 && r.hi < e->c) return r;
    return {0, e->c - 1};
  }
  case IExpr::Kind::Select: {
    Range a = irange(e->a, ctx), b = irange(e->b, ctx);
    return {std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
  }
  case IExpr::Kind::Lt:
  case IExpr::Kind::Ge:
  case IExpr::Kind::And:
    return {0, 1};
  case IExpr::Kind::Sum: {
    Range r{e->c, e->c};
    for (auto& [atom, coef] : e->terms) {
      Range t = irange(atom, ctx);
      int64_t x = t.lo * coef, y = t.hi * coef;
      r.lo += std::min(x, y);
      r.hi += std::max(x, y);
    }
    return r;
  }
  }
  return {0, 0};
}

IExprPtr iadd(const IExprPtr& a, const IExprPtr& b, const IndexContext&) {
  TermMap m;
  add_terms(m, *as_sum(a), 1);
  add_terms(m, *as_sum(b), 1);
  return build_sum(std::move(m), as_sum(a)->c + as_sum(b)->c);
}

IExprPtr imul(const IExprPtr& a, int64_t k, const IndexContext&) {
  TermMap m;
  auto s = as_sum(a);
  add_terms(m, *s, k);
  return build_sum(std::move(m), s->c * k);
}

// Splits a sum into the part whose coefficients (and constant) are multiples of k and the rest.
static void split_multiples(const IExpr& s, int64_t k, TermMap& q, int64_t& qc, TermMap& r,
                            int64_t& rc) {
  for (auto& [atom, coef] : s.terms) {
    // coef*x = (coef - m)*x + m*x with m = coef mod k: the first part is a multiple of k.
    int64_t m = floormod(coef, k);
    if (coef != m) q[atom->key] = {atom, (coef - m) / k};
    if (m != 0) r[atom->key] = {atom, m};
  }
  qc = floordiv(s.c, k);
  rc = floormod(s.c, k);
}

// Finds g > 1 dividing k with rest == g*x + r, 0 <= r < g for every index: the terms with the
// largest coefficients form g*x. Then (g*x + r) / k == x / (k/g) and (g*x + r) % k ==
// g*(x % (k/g)) + r (conv's (64*c + 8*h + w) / 192 is c / 3 when 8*h + w < 64).
static bool split_common_factor(const IExprPtr& rest, int64_t k, const IndexContext& ctx,
                                int64_t& g, IExprPtr& x, IExprPtr& r) {
  auto terms = rest->terms;
  std::sort(terms.begin(), terms.end(),
            [](auto& p, auto& q) { return std::abs(p.second) > std::abs(q.second); });
  int64_t gcd_big = 0;
  for (size_t n = 1; n <= terms.size(); ++n) {
    gcd_big = std::gcd(gcd_big, terms[n - 1].second);
    g = std::gcd(gcd_big, k);
    if (g <= 1) return false;
    TermMap big, small;
    for (size_t i = 0; i < terms.size(); ++i)
      (i < n ? big : small)[terms[i].first->key] = {terms[i].first,
                                                    i < n ? terms[i].second / g : terms[i].second};
    IExprPtr rem = build_sum(std::move(small), rest->c);
    Range rr = irange(rem, ctx);
    if (rr.lo >= 0 && rr.hi < g) {
      x = build_sum(std::move(big), 0);
      r = rem;
      return true;
    }
  }
  return false;
}

IExprPtr idiv(const IExprPtr& a, int64_t k, const IndexContext& ctx) {
  if (k == 1 || k <= 0) return a; // k <= 0 only for empty extents, whose loops never run
  auto s = as_sum(a);
  // (x / m) / k == x / (m * k) for positive divisors.
  if (s->terms.size() == 1 && s->c == 0 && s->terms[0].second == 1 &&
      s->terms[0].first->kind == IExpr::Kind::Div)
    return idiv(s->terms[0].first->a, s->terms[0].first->c * k, ctx);
  TermMap q, r;
  int64_t qc, rc;
  split_multiples(*s, k, q, qc, r, rc);
  IExprPtr quotient = build_sum(std::move(q), qc);
  IExprPtr rest = build_sum(std::move(r), rc);
  Range rr = irange(rest, ctx);
  if (rr.lo >= 0 && rr.hi < k) return quotient;
  int64_t g;
  IExprPtr big, small;
  if (split_common_factor(rest, k, ctx, g, big, small))
    return iadd(quotient, idiv(big, k / g, ctx), ctx);
  return iadd(quotient, as_sum(div_atom(rest, k)), ctx);
}

IExprPtr imod(const IExprPtr& a, int64_t k, const IndexContext& ctx) {
  if (k == 1 || k <= 0) return iconst(0); // k <= 0 only for empty extents
  auto s = as_sum(a);
  TermMap q, r;
  int64_t qc, rc;
  split_multiples(*s, k, q, qc, r, rc);
  IExprPtr rest = build_sum(std::move(r), rc);
  Range rr = irange(rest, ctx);
  if (rr.lo >= 0 && rr.hi < k) return rest;
  // (x % m) % k == x % k when k divides m.
  if (rest->terms.size() == 1 && rest->c == 0 && rest->terms[0].second == 1 &&
      rest->terms[0].first->kind == IExpr::Kind::Mod && rest->terms[0].first->c % k == 0)
    return imod(rest->terms[0].first->a, k, ctx);
  int64_t g;
  IExprPtr big, small;
  if (split_common_factor(rest, k, ctx, g, big, small))
    return iadd(imul(imod(big, k / g, ctx), g, ctx), small, ctx);
  IExpr m{IExpr::Kind::Mod};
  m.a = rest;
  m.c = k;
  return as_sum(make(std::move(m)));
}

IExprPtr ilt(const IExprPtr& a, int64_t k, const IndexContext& ctx) {
  Range r = irange(a, ctx);
  if (r.hi < k) return nullptr; // always true
  IExpr e{IExpr::Kind::Lt};
  e.a = a;
  e.c = k;
  return make(std::move(e));
}

IExprPtr ige(const IExprPtr& a, int64_t k, const IndexContext& ctx) {
  Range r = irange(a, ctx);
  if (r.lo >= k) return nullptr; // always true
  IExpr e{IExpr::Kind::Ge};
  e.a = a;
  e.c = k;
  return make(std::move(e));
}

IExprPtr iand(const IExprPtr& a, const IExprPtr& b) {
  if (!a) return b;
  if (!b) return a;
  IExpr e{IExpr::Kind::And};
  e.a = a;
  e.b = b;
  return make(std::move(e));
}

IExprPtr iselect(const IExprPtr& cond, const IExprPtr& a, const IExprPtr& b, const IndexContext&) {
  if (!cond || a->key == b->key) return a;
  IExpr e{IExpr::Kind::Select};
  e.cond = cond;
  e.a = a;
  e.b = b;
  return as_sum(make(std::move(e)));
}

IExprPtr isubstitute(const IExprPtr& e, const std::vector<IExprPtr>& vars,
                     const std::vector<std::vector<IExprPtr>>& rvars, const IndexContext& ctx) {
  if (!e) return e;
  auto sub = [&](const IExprPtr& x) { return isubstitute(x, vars, rvars, ctx); };
  switch (e->kind) {
  case IExpr::Kind::Var:
    return vars.at(e->c);
  case IExpr::Kind::RVar:
    return rvars.at(e->stage).at(e->c);
  case IExpr::Kind::Div:
    return idiv(sub(e->a), e->c, ctx);
  case IExpr::Kind::Mod:
    return imod(sub(e->a), e->c, ctx);
  case IExpr::Kind::Lt: {
    auto r = ilt(sub(e->a), e->c, ctx);
    return r ? r : nullptr;
  }
  case IExpr::Kind::Ge:
    return ige(sub(e->a), e->c, ctx);
  case IExpr::Kind::And:
    return iand(sub(e->a), sub(e->b));
  case IExpr::Kind::Select:
    return iselect(sub(e->cond), sub(e->a), sub(e->b), ctx);
  case IExpr::Kind::Sum: {
    IExprPtr acc = iconst(e->c);
    for (auto& [atom, coef] : e->terms) acc = iadd(acc, imul(sub(atom), coef, ctx), ctx);
    return acc;
  }
  }
  return e;
}

bool uses_rvar(const IExprPtr& e) {
  if (!e) return false;
  if (e->kind == IExpr::Kind::RVar) return true;
  for (auto& [atom, coef] : e->terms)
    if (uses_rvar(atom)) return true;
  return uses_rvar(e->a) || uses_rvar(e->b) || uses_rvar(e->cond);
}

int inonaffine_count(const IExprPtr& e) {
  if (!e) return 0;
  int n = 0;
  switch (e->kind) {
  case IExpr::Kind::Div:
  case IExpr::Kind::Mod:
  case IExpr::Kind::Select:
    n = 1;
    break;
  default:
    break;
  }
  for (auto& [atom, coef] : e->terms) n += inonaffine_count(atom);
  return n + inonaffine_count(e->a) + inonaffine_count(e->b) + inonaffine_count(e->cond);
}

} // namespace kiln
