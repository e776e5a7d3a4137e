#include "passes/lower.h"

#include "ir/error.h"
#include "passes/index_expr.h"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_map>

namespace kiln {
namespace {

// A kernel instruction before index expressions are final: either a scalar instruction or the
// materialization of an index expression (i64, or bool for pad masks).
struct PInst {
  KInst k;
  IExprPtr expr;
};

class Lowerer {
public:
  Lowerer(const std::function<bool(Node*)>& is_boundary) : is_boundary_(is_boundary) {}

  LoweredKernel run(const std::vector<Node*>& roots);

private:
  int lower(Node* n, const std::vector<IExprPtr>& coords);
  int load(Node* n, const std::vector<IExprPtr>& coords);
  int lower_view(Node* n, const std::vector<IExprPtr>& coords);
  int lower_reduce(Node* n, const std::vector<IExprPtr>& coords);
  int lower_matmul(Node* n, const std::vector<IExprPtr>& coords);
  int emit(KInst k) {
    insts_.push_back({k, nullptr});
    return static_cast<int>(insts_.size()) - 1;
  }
  int emit_expr(const IExprPtr& e, DType t) {
    insts_.push_back({KInst{Op::Const, t}, e});
    return static_cast<int>(insts_.size()) - 1;
  }
  int emit_const(DType t, Scalar v) {
    KInst k{Op::Const, t};
    k.value = v;
    return emit(k);
  }
  void start_reduce(Node* n, std::vector<int64_t> extents);
  void merge_dims();
  Kernel finish(const std::vector<std::pair<int, int>>& outputs, const std::vector<int>& out_args);

  const std::function<bool(Node*)>& is_boundary_;
  IndexContext ctx_;
  std::vector<PInst> insts_;
  std::vector<Node*> args_;
  std::unordered_map<Node*, int> arg_of_;
  std::unordered_map<std::string, int> memo_;
  Node* reduce_owner_ = nullptr;
  std::vector<std::string> op_names_;
  std::vector<Node*> roots_;
};

int Lowerer::load(Node* n, const std::vector<IExprPtr>& coords) {
  auto [it, fresh] = arg_of_.try_emplace(n, static_cast<int>(args_.size()));
  if (fresh) args_.push_back(n);
  auto strides = contiguous_strides(n->shape);
  IExprPtr idx = iconst(0);
  for (size_t d = 0; d < coords.size(); ++d) idx = iadd(idx, imul(coords[d], strides[d], ctx_), ctx_);
  KInst k{Op::Load, n->dtype};
  k.a = emit_expr(idx, DType::I64);
  k.imm = it->second;
  return emit(k);
}

int Lowerer::lower(Node* n, const std::vector<IExprPtr>& coords) {
  std::string key = fmt::format("{}", static_cast<void*>(n));
  for (auto& c : coords) key += "|" + c->key;
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;

  bool is_root = std::find(roots_.begin(), roots_.end(), n) != roots_.end();
  int id;
  if (n->realized() || (!is_root && is_boundary_(n))) id = load(n, coords);
  else if (n->op == Op::Const) id = emit_const(n->dtype, n->get<ConstAttr>().value);
  else if (is_elementwise(n->op)) {
    KInst k{n->op, n->dtype};
    int* slots[] = {&k.a, &k.b, &k.c};
    for (size_t i = 0; i < n->inputs.size(); ++i) *slots[i] = lower(n->inputs[i].get(), coords);
    id = emit(k);
  } else if (is_movement(n->op)) id = lower_view(n, coords);
  else if (is_reduce(n->op)) id = lower_reduce(n, coords);
  else if (n->op == Op::Matmul) id = lower_matmul(n, coords);
  else fail("lower", "cannot lower {} : {}{}", op_name(n->op), dtype_name(n->dtype), shape_str(n->shape));

  if (!n->realized() && n->op != Op::Const && n->op != Op::Buffer && !is_movement(n->op) &&
      (is_root || !is_boundary_(n)) && op_names_.size() < 4 &&
      std::find(op_names_.begin(), op_names_.end(), op_name(n->op)) == op_names_.end())
    op_names_.emplace_back(op_name(n->op));
  memo_[key] = id;
  return id;
}

int Lowerer::lower_view(Node* n, const std::vector<IExprPtr>& coords) {
  Node* in = n->inputs[0].get();
  const Shape& is = in->shape;
  std::vector<IExprPtr> ic(is.size());
  switch (n->op) {
  case Op::Reshape: {
    auto os = contiguous_strides(n->shape), ins = contiguous_strides(is);
    IExprPtr lin = iconst(0);
    for (size_t d = 0; d < coords.size(); ++d) lin = iadd(lin, imul(coords[d], os[d], ctx_), ctx_);
    for (size_t d = 0; d < is.size(); ++d) ic[d] = imod(idiv(lin, ins[d], ctx_), is[d], ctx_);
    return lower(in, ic);
  }
  case Op::Permute: {
    auto& perm = n->get<PermuteAttr>().perm;
    for (size_t d = 0; d < perm.size(); ++d) ic[perm[d]] = coords[d];
    return lower(in, ic);
  }
  case Op::Expand:
    for (size_t d = 0; d < is.size(); ++d) ic[d] = is[d] == n->shape[d] ? coords[d] : iconst(0);
    return lower(in, ic);
  case Op::Slice: {
    auto& s = n->get<SliceAttr>();
    for (size_t d = 0; d < is.size(); ++d) ic[d] = iadd(iconst(s.start[d]), imul(coords[d], s.step[d], ctx_), ctx_);
    return lower(in, ic);
  }
  default: {
    // Pad: read the input where in range (the index clamped to 0 elsewhere), else the pad value.
    auto& p = n->get<PadAttr>();
    IExprPtr valid;
    for (size_t d = 0; d < is.size(); ++d) {
      IExprPtr c = iadd(coords[d], iconst(-p.before[d]), ctx_);
      IExprPtr ok = iand(ige(c, 0, ctx_), ilt(c, is[d], ctx_));
      ic[d] = iselect(ok, c, iconst(0), ctx_);
      valid = iand(valid, ok);
    }
    int value = lower(in, ic);
    if (!valid) return value;
    KInst k{Op::Where, n->dtype};
    k.a = emit_expr(valid, DType::Bool);
    k.b = value;
    k.c = emit_const(n->dtype, p.value);
    return emit(k);
  }
  }
}

void Lowerer::start_reduce(Node* n, std::vector<int64_t> extents) {
  if (reduce_owner_ && reduce_owner_ != n)
    fail("lower", "two reductions in one kernel ({} and {})", op_name(reduce_owner_->op), op_name(n->op));
  reduce_owner_ = n;
  ctx_.reduce = std::move(extents);
}

int Lowerer::lower_reduce(Node* n, const std::vector<IExprPtr>& coords) {
  auto& axes = n->get<AxesAttr>().axes;
  const Shape& is = n->inputs[0]->shape;
  std::vector<int64_t> extents;
  std::vector<IExprPtr> ic = coords;
  for (size_t j = 0; j < axes.size(); ++j) {
    extents.push_back(is[axes[j]]);
    ic[axes[j]] = irvar(static_cast<int>(j));
  }
  start_reduce(n, extents);
  KInst k{n->op, n->dtype};
  k.a = lower(n->inputs[0].get(), ic);
  if (n->op == Op::ArgMax || n->op == Op::ArgMin) k.b = emit_expr(irvar(0), DType::I64);
  return emit(k);
}

int Lowerer::lower_matmul(Node* n, const std::vector<IExprPtr>& coords) {
  size_t r = n->shape.size();
  start_reduce(n, {n->inputs[0]->shape[r - 1]});
  std::vector<IExprPtr> ac = coords, bc = coords;
  ac[r - 1] = irvar(0);
  bc[r - 2] = irvar(0);
  KInst mul{Op::Mul, n->dtype};
  mul.a = lower(n->inputs[0].get(), ac);
  mul.b = lower(n->inputs[1].get(), bc);
  KInst sum{Op::Sum, n->dtype};
  sum.a = emit(mul);
  return emit(sum);
}

// Drops extent-1 loops, then merges neighbouring loops wherever that adds no div/mod: a
// contiguous elementwise kernel becomes one flat loop, a row reduction one outer loop.
void Lowerer::merge_dims() {
  auto rewrite = [&](const std::vector<IExprPtr>& vars, const std::vector<IExprPtr>& rvars,
                     const IndexContext& next, bool only_if_simpler) {
    std::vector<IExprPtr> out(insts_.size());
    int before = 0, after = 0;
    for (size_t i = 0; i < insts_.size(); ++i) {
      if (!insts_[i].expr) continue;
      before += inonaffine_count(insts_[i].expr);
      out[i] = isubstitute(insts_[i].expr, vars, rvars, next);
      after += inonaffine_count(out[i]);
    }
    if (only_if_simpler && after > before) return false;
    for (size_t i = 0; i < insts_.size(); ++i)
      if (insts_[i].expr) insts_[i].expr = out[i] ? out[i] : iconst(1); // an always-true mask
    ctx_ = next;
    return true;
  };
  auto identity = [](size_t n, bool reduce) {
    std::vector<IExprPtr> v;
    for (size_t i = 0; i < n; ++i) v.push_back(reduce ? irvar((int)i) : ivar((int)i));
    return v;
  };
  for (bool reduce : {false, true}) {
    auto& dims = reduce ? ctx_.reduce : ctx_.domain;
    // Drop extent-1 loops.
    IndexContext next = ctx_;
    auto& nd = reduce ? next.reduce : next.domain;
    nd.clear();
    std::vector<IExprPtr> sub;
    for (int64_t e : dims) {
      sub.push_back(e == 1 ? iconst(0) : (reduce ? irvar((int)nd.size()) : ivar((int)nd.size())));
      if (e != 1) nd.push_back(e);
    }
    rewrite(reduce ? identity(ctx_.domain.size(), false) : sub, reduce ? sub : identity(ctx_.reduce.size(), true),
            next, false);
    // Merge loop d with d+1, innermost pairs first.
    for (int d = static_cast<int>((reduce ? ctx_.reduce : ctx_.domain).size()) - 2; d >= 0; --d) {
      IndexContext m = ctx_;
      auto& md = reduce ? m.reduce : m.domain;
      int64_t inner = md[d + 1];
      md[d] *= inner;
      md.erase(md.begin() + d + 1);
      std::vector<IExprPtr> s;
      for (int j = 0; j < static_cast<int>(md.size()) + 1; ++j) {
        auto v = [&](int a) { return reduce ? irvar(a) : ivar(a); };
        if (j < d) s.push_back(v(j));
        else if (j == d) s.push_back(idiv(v(d), inner, m));
        else if (j == d + 1) s.push_back(imod(v(d), inner, m));
        else s.push_back(v(j - 1));
      }
      rewrite(reduce ? identity(ctx_.domain.size(), false) : s, reduce ? s : identity(ctx_.reduce.size(), true), m,
              true);
    }
  }
}

Kernel Lowerer::finish(const std::vector<std::pair<int, int>>& outputs, const std::vector<int>& out_args) {
  Kernel k;
  k.domain = ctx_.domain;
  k.reduce = ctx_.reduce;
  for (Node* a : args_) k.args.push_back({a->dtype, a->numel(), false});
  // Emit final instructions with value numbering, so equal index math is computed once.
  std::unordered_map<std::string, int> numbering;
  auto add = [&](KInst in) {
    std::string key = fmt::format("{}.{}.{}.{}.{}.{}.{}.{}", (int)in.op, (int)in.dtype, in.a, in.b, in.c, in.imm,
                                  in.value.f, in.value.i);
    auto [it, fresh] = numbering.try_emplace(key, static_cast<int>(k.insts.size()));
    if (fresh) k.insts.push_back(in);
    return it->second;
  };
  auto cst = [&](int64_t v) {
    KInst c{Op::Const, DType::I64};
    c.value.i = v;
    return add(c);
  };
  std::function<int(const IExprPtr&)> expr = [&](const IExprPtr& e) -> int {
    auto bin = [&](Op op, DType t, int a, int b) {
      KInst i{op, t};
      i.a = a;
      i.b = b;
      return add(i);
    };
    switch (e->kind) {
    case IExpr::Kind::Var:
    case IExpr::Kind::RVar: {
      KInst i{e->kind == IExpr::Kind::Var ? Op::LoopIndex : Op::ReduceIndex, DType::I64};
      i.imm = e->c;
      return add(i);
    }
    case IExpr::Kind::Div: return bin(Op::FloorDiv, DType::I64, expr(e->a), cst(e->c));
    case IExpr::Kind::Mod: return bin(Op::Mod, DType::I64, expr(e->a), cst(e->c));
    case IExpr::Kind::Lt: return bin(Op::Lt, DType::Bool, expr(e->a), cst(e->c));
    case IExpr::Kind::Ge: return bin(Op::Ge, DType::Bool, expr(e->a), cst(e->c));
    case IExpr::Kind::And: return bin(Op::LogicalAnd, DType::Bool, expr(e->a), expr(e->b));
    case IExpr::Kind::Select: {
      KInst i{Op::Where, DType::I64};
      i.a = expr(e->cond);
      i.b = expr(e->a);
      i.c = expr(e->b);
      return add(i);
    }
    case IExpr::Kind::Sum: {
      int acc = -1;
      for (auto& [atom, coef] : e->terms) {
        int t = expr(atom);
        if (coef != 1) t = bin(Op::Mul, DType::I64, t, cst(coef));
        acc = acc < 0 ? t : bin(Op::Add, DType::I64, acc, t);
      }
      if (acc < 0) return cst(e->c);
      return e->c ? bin(Op::Add, DType::I64, acc, cst(e->c)) : acc;
    }
    }
    return -1;
  };
  std::vector<int> id(insts_.size(), -1);
  for (size_t i = 0; i < insts_.size(); ++i) {
    const PInst& p = insts_[i];
    if (p.expr) {
      int e = expr(p.expr);
      // A mask that simplified to a constant 1 is the literal true.
      if (p.k.dtype == DType::Bool && k.insts[e].dtype != DType::Bool) {
        KInst t{Op::Const, DType::Bool};
        t.value.i = 1;
        e = add(t);
      }
      id[i] = e;
      continue;
    }
    KInst in = p.k;
    for (int* s : {&in.a, &in.b, &in.c})
      if (*s >= 0) *s = id[*s];
    id[i] = add(in);
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    k.args[out_args[o]].output = true;
    k.stores.push_back({out_args[o], id[outputs[o].second], id[outputs[o].first]});
  }
  // Readable and unique: the fused ops, then a hash of the body.
  std::string body = print_kernel(k);
  uint64_t h = std::hash<std::string>{}(body);
  k.name = "k";
  for (auto& n : op_names_) k.name += "_" + n;
  k.name += fmt::format("_{:06x}", h & 0xffffff);
  return k;
}

LoweredKernel Lowerer::run(const std::vector<Node*>& roots) {
  roots_ = roots;
  const Shape& shape = roots[0]->shape;
  ctx_.domain = shape;
  std::vector<IExprPtr> coords;
  for (size_t d = 0; d < shape.size(); ++d) coords.push_back(ivar(static_cast<int>(d)));
  std::vector<std::pair<int, int>> outputs; // (value inst, index inst)
  for (Node* r : roots) {
    if (r->shape != shape) fail("lower", "kernel roots differ in shape");
    int value = lower(r, coords);
    auto strides = contiguous_strides(shape);
    IExprPtr idx = iconst(0);
    for (size_t d = 0; d < shape.size(); ++d) idx = iadd(idx, imul(coords[d], strides[d], ctx_), ctx_);
    outputs.push_back({value, emit_expr(idx, DType::I64)});
  }
  merge_dims();
  std::vector<int> out_args;
  for (Node* r : roots) {
    out_args.push_back(static_cast<int>(args_.size()));
    args_.push_back(r);
  }
  Kernel k = finish(outputs, out_args);
  if (std::string err = verify_kernel(k); !err.empty())
    fail("lower", "malformed kernel {}: {}\n{}", k.name, err, print_kernel(k));
  return {std::move(k), args_};
}

} // namespace

LoweredKernel lower_kernel(const std::vector<Node*>& roots, const std::function<bool(Node*)>& is_boundary) {
  return Lowerer(is_boundary).run(roots);
}

} // namespace kiln
