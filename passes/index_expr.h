// Symbolic integer index expressions, kept in a simplified affine normal form.
//
// Every integer expression is a Sum: constant + coef * atom, atoms being loop variables and
// the non-affine forms floor-div, mod and select. Builders simplify as they go, using the
// range of each loop variable (div/mod of affine terms, k*(x/k) + x%k == x, ...), so views
// stacked on views lower to the plain strided index a hand-written kernel would use.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct IExpr;
using IExprPtr = std::shared_ptr<const IExpr>;

struct IExpr {
  enum class Kind { Sum, Var, RVar, Div, Mod, Select, Lt, Ge, And } kind;
  int64_t c = 0; // Sum: constant term; Var/RVar: axis; Div/Mod: divisor; Lt/Ge: bound
  int stage = 0; // RVar: the stage whose loop it indexes
  std::vector<std::pair<IExprPtr, int64_t>> terms = {}; // Sum: (atom, coefficient), by key
  IExprPtr a = {}, b = {}, cond = {}; // Div/Mod/Lt/Ge: a; And: a, b; Select: cond ? a : b
  std::string key = {};               // canonical text: structural equality and printing
};

// Extents of the loop variables, for range reasoning.
struct IndexContext {
  std::vector<int64_t> domain;
  std::vector<std::vector<int64_t>> stages;
};

struct Range {
  int64_t lo, hi; // inclusive
};

IExprPtr iconst(int64_t c);
IExprPtr ivar(int axis);
IExprPtr irvar(int stage, int axis);
IExprPtr iadd(const IExprPtr& a, const IExprPtr& b, const IndexContext& ctx);
IExprPtr imul(const IExprPtr& a, int64_t k, const IndexContext& ctx);
IExprPtr idiv(const IExprPtr& a, int64_t k, const IndexContext& ctx); // floor division, k > 0
IExprPtr imod(const IExprPtr& a, int64_t k, const IndexContext& ctx); // k > 0
IExprPtr ilt(const IExprPtr& a, int64_t k, const IndexContext& ctx);  // a < k (bool)
IExprPtr ige(const IExprPtr& a, int64_t k, const IndexContext& ctx);  // a >= k (bool)
IExprPtr iand(const IExprPtr& a, const IExprPtr& b);                  // nullptr = true
IExprPtr iselect(const IExprPtr& cond, const IExprPtr& a, const IExprPtr& b,
                 const IndexContext& ctx);

Range irange(const IExprPtr& e, const IndexContext& ctx);
bool is_const(const IExprPtr& e, int64_t* value = nullptr);
// Rebuilds e with Var(axis) replaced by vars[axis] and RVar(stage, axis) by rvars[stage][axis].
IExprPtr isubstitute(const IExprPtr& e, const std::vector<IExprPtr>& vars,
                     const std::vector<std::vector<IExprPtr>>& rvars, const IndexContext& ctx);
// Whether e mentions any stage variable.
bool uses_rvar(const IExprPtr& e);
// Number of non-affine atoms (div, mod, select) in e: what a dimension merge must not grow.
int inonaffine_count(const IExprPtr& e);

} // namespace kiln
