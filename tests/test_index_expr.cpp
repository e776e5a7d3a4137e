// The index simplifier (passes/index_expr.h): hand cases of its rewrites, and random
// expressions checked against direct evaluation at every point of a small domain.
#include <catch2/catch.hpp>

#include "passes/index_expr.h"

#include <functional>
#include <random>

using namespace kiln;

namespace {

int64_t floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t eval(const IExprPtr& e, const std::vector<int64_t>& at) {
  switch (e->kind) {
  case IExpr::Kind::Var:
    return at[e->c];
  case IExpr::Kind::RVar:
    return 0;
  case IExpr::Kind::Div:
    return floordiv(eval(e->a, at), e->c);
  case IExpr::Kind::Mod:
    return eval(e->a, at) - floordiv(eval(e->a, at), e->c) * e->c;
  case IExpr::Kind::Lt:
    return eval(e->a, at) < e->c;
  case IExpr::Kind::Ge:
    return eval(e->a, at) >= e->c;
  case IExpr::Kind::And:
    return eval(e->a, at) && eval(e->b, at);
  case IExpr::Kind::Select:
    return eval(e->cond, at) ? eval(e->a, at) : eval(e->b, at);
  case IExpr::Kind::Sum: {
    int64_t s = e->c;
    for (auto& [atom, coef] : e->terms) s += coef * eval(atom, at);
    return s;
  }
  }
  return 0;
}

} // namespace

TEST_CASE("index simplifier: a common factor of divisor and coefficients", "[index]") {
  IndexContext ctx{{36, 8, 8}, {}};
  // im2col's (64*k + 8*h + w) / 192 with 8*h + w < 64: k / 3.
  IExprPtr x = iadd(iadd(imul(ivar(0), 64, ctx), imul(ivar(1), 8, ctx), ctx), ivar(2), ctx);
  CHECK(idiv(x, 192, ctx)->key == "(i0 / 3)");
  CHECK(imod(x, 192, ctx)->key == "64*(i0 % 3) + 8*i1 + 1*i2");
  // Not when the rest can reach the factor: 8*h + 3*w reaches 77 > 63.
  IExprPtr y =
      iadd(iadd(imul(ivar(0), 64, ctx), imul(ivar(1), 8, ctx), ctx), imul(ivar(2), 3, ctx), ctx);
  CHECK(idiv(y, 192, ctx)->key == "(64*i0 + 8*i1 + 3*i2 / 192)");
  // (16*k) / 192 is k / 12.
  CHECK(idiv(imul(ivar(0), 16, ctx), 192, ctx)->key == "(i0 / 12)");
}

TEST_CASE("index simplifier: div and mod pieces recombine", "[index]") {
  IndexContext ctx{{36}, {}};
  // A [O, C, 3, 3] weight read as [O, 9*C]: ((k/3) % 3)*3 + k % 3 + (k/9)*9 is k.
  IExprPtr k = ivar(0);
  IExprPtr parts = iadd(iadd(imul(imod(idiv(k, 3, ctx), 3, ctx), 3, ctx), imod(k, 3, ctx), ctx),
                        imul(idiv(k, 9, ctx), 9, ctx), ctx);
  CHECK(parts->key == "i0");
}

TEST_CASE("index simplifier: random expressions keep their values", "[index]") {
  std::mt19937 rng(1234);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 300; ++trial) {
    IndexContext ctx{{pick(1, 7), pick(1, 6), pick(1, 9)}, {}};
    // Expressions and their values at a point, built side by side.
    std::function<IExprPtr(int, std::function<int64_t(const std::vector<int64_t>&)>&)> gen =
        [&](int depth, std::function<int64_t(const std::vector<int64_t>&)>& value) -> IExprPtr {
      int kind = depth == 0 ? pick(0, 1) : pick(0, 5);
      if (kind == 0) {
        int axis = pick(0, 2);
        value = [axis](const std::vector<int64_t>& at) { return at[axis]; };
        return ivar(axis);
      }
      if (kind == 1) {
        int64_t c = pick(-5, 12);
        value = [c](const std::vector<int64_t>&) { return c; };
        return iconst(c);
      }
      std::function<int64_t(const std::vector<int64_t>&)> va, vb;
      IExprPtr a = gen(depth - 1, va);
      int64_t k = pick(1, 24);
      switch (kind) {
      case 2: {
        IExprPtr b = gen(depth - 1, vb);
        value = [va, vb](const std::vector<int64_t>& at) { return va(at) + vb(at); };
        return iadd(a, b, ctx);
      }
      case 3:
        value = [va, k](const std::vector<int64_t>& at) { return va(at) * k; };
        return imul(a, k, ctx);
      case 4:
        value = [va, k](const std::vector<int64_t>& at) { return floordiv(va(at), k); };
        return idiv(a, k, ctx);
      default:
        value = [va, k](const std::vector<int64_t>& at) {
          return va(at) - floordiv(va(at), k) * k;
        };
        return imod(a, k, ctx);
      }
    };
    std::function<int64_t(const std::vector<int64_t>&)> want;
    IExprPtr e = gen(4, want);
    INFO(e->key);
    for (int64_t a = 0; a < ctx.domain[0]; ++a)
      for (int64_t b = 0; b < ctx.domain[1]; ++b)
        for (int64_t c = 0; c < ctx.domain[2]; ++c) REQUIRE(eval(e, {a, b, c}) == want({a, b, c}));
  }
}
