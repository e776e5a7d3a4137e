#include "passes/lower.h"

#include "ir/error.h"
#include "passes/attention_match.h"
#include "passes/index_expr.h"

#include <algorithm>
#include <fmt/format.h>
#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

// A kernel instruction before index expressions are final: either a scalar instruction or the
// materialization of an index expression (i64, or bool for pad masks).
struct PInst {
  KInst k;
  IExprPtr expr;
};

bool reduces(const Node* n) { return is_reduce(n->op) || n->op == Op::Matmul; }

class Lowerer {
public:
  explicit Lowerer(const std::function<bool(Node*)>& is_boundary) : is_boundary_(is_boundary) {}
  LoweredKernel run(const std::vector<Node*>& roots);

private:
  LoweredKernel run_attention(const AttentionPattern& a);
  LoweredKernel finish_lowering(const std::vector<std::pair<int, int>>& outputs);
  std::string memo_key(Node* n, const std::vector<IExprPtr>& coords) const {
    std::string key = fmt::format("{}", static_cast<void*>(n));
    for (auto& c : coords) key += "|" + c->key;
    if (mask_) key += "|if " + mask_->key;
    return key;
  }
  bool inlined(Node* n) const {
    return !n->realized() &&
           (std::find(roots_.begin(), roots_.end(), n) != roots_.end() || !is_boundary_(n));
  }
  std::vector<int> map_axes();
  int lower(Node* n, const std::vector<IExprPtr>& coords);
  int load(Node* n, const std::vector<IExprPtr>& coords);
  int lower_view(Node* n, const std::vector<IExprPtr>& coords);
  int lower_reduce(Node* n, const std::vector<IExprPtr>& coords);
  int lower_matmul(Node* n, const std::vector<IExprPtr>& coords);
  int open_stage(Node* n, std::vector<int64_t> extents, const std::vector<IExprPtr>& coords);
  int lower_stage_input(Node* in, const std::vector<IExprPtr>& coords);
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
  void order_stages();
  void merge_dims();
  void rewrite_exprs(const std::vector<IExprPtr>& vars,
                     const std::vector<std::vector<IExprPtr>>& rvars, const IndexContext& next);
  bool try_merge(int d, int stage, bool force = false);
  void merge_product_columns();
  // Every loop variable standing for itself: the start of a substitution.
  std::pair<std::vector<IExprPtr>, std::vector<std::vector<IExprPtr>>> identity() const {
    std::vector<IExprPtr> vars;
    for (size_t j = 0; j < ctx_.domain.size(); ++j) vars.push_back(ivar(static_cast<int>(j)));
    std::vector<std::vector<IExprPtr>> rvars(ctx_.stages.size());
    for (size_t s = 0; s < ctx_.stages.size(); ++s)
      for (size_t a = 0; a < ctx_.stages[s].size(); ++a) rvars[s].push_back(irvar((int)s, (int)a));
    return {vars, rvars};
  }
  Kernel finish(const std::vector<std::pair<int, int>>& outputs, const std::vector<int>& out_args);

  const std::function<bool(Node*)>& is_boundary_;
  IndexContext ctx_;
  std::vector<PInst> insts_;
  std::vector<Node*> args_;
  std::unordered_map<Node*, int> arg_of_;
  std::vector<Node*> params_;
  std::unordered_map<Node*, int> param_of_;
  std::unordered_map<std::string, int> memo_;
  IExprPtr mask_; // where loads may read (inside a pad's input), nullptr: everywhere
  // Whether lowering n here inlines a reduction or matmul (a stage of its own).
  bool inlines_stage(Node* n);
  std::unordered_map<Node*, bool> inlines_stage_;
  std::vector<int> stage_done_; // stage ids in completion order = execution order
  std::vector<std::string> op_names_;
  // The [rows, columns] of the product this kernel computes (0 without one).
  int64_t product_rows_ = 0, product_cols_ = 0;
  std::vector<Node*> roots_;
  std::vector<Node*> stage_inputs_; // top node of each stage input being lowered
};

// The axes of the roots that become the final map stage: the reduced axes of inlined
// reductions over an input of the roots' shape. They must agree and be trailing axes.
std::vector<int> Lowerer::map_axes() {
  std::vector<int> axes;
  Node* owner = nullptr;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack(roots_.begin(), roots_.end());
  const Shape& shape = roots_[0]->shape;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second || !inlined(n)) continue;
    for (auto& in : n->inputs) stack.push_back(in.get());
    if (!is_reduce(n->op) || n->inputs[0]->shape != shape ||
        std::count(roots_.begin(), roots_.end(), n))
      continue;
    auto& a = n->get<AxesAttr>().axes;
    bool trailing =
        a.back() == static_cast<int>(shape.size()) - 1 && a.back() - a.front() + 1 == (int)a.size();
    if (!trailing) throw FusionConflict(n, "a fused reduction over non-trailing axes");
    if (owner && a != axes) throw FusionConflict(n, "fused reductions over different axes");
    axes = a;
    owner = n;
  }
  return axes;
}

int Lowerer::load(Node* n, const std::vector<IExprPtr>& coords) {
  auto [it, fresh] = arg_of_.try_emplace(n, static_cast<int>(args_.size()));
  if (fresh) args_.push_back(n);
  auto strides = contiguous_strides(n->shape);
  IExprPtr idx = iconst(0);
  for (size_t d = 0; d < coords.size(); ++d)
    idx = iadd(idx, imul(coords[d], strides[d], ctx_), ctx_);
  KInst k{Op::Load, n->dtype};
  k.a = emit_expr(idx, DType::I64);
  if (mask_) k.b = emit_expr(mask_, DType::Bool);
  k.imm = it->second;
  return emit(k);
}

int Lowerer::lower(Node* n, const std::vector<IExprPtr>& coords) {
  std::string key = memo_key(n, coords);
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;

  int id;
  if (!inlined(n))
    id = load(n, coords);
  else if (n->op == Op::Const && n->get<ConstAttr>().param) {
    KInst k{Op::Param, n->dtype};
    auto [it, fresh] = param_of_.try_emplace(n, static_cast<int>(params_.size()));
    if (fresh) params_.push_back(n);
    k.imm = it->second;
    id = emit(k);
  } else if (n->op == Op::Const)
    id = emit_const(n->dtype, n->get<ConstAttr>().value);
  else if (is_elementwise(n->op)) {
    KInst k{n->op, n->dtype};
    int* slots[] = {&k.a, &k.b, &k.c};
    for (size_t i = 0; i < n->inputs.size(); ++i) *slots[i] = lower(n->inputs[i].get(), coords);
    id = emit(k);
  } else if (is_movement(n->op))
    id = lower_view(n, coords);
  else if (is_reduce(n->op))
    id = lower_reduce(n, coords);
  else if (n->op == Op::Matmul)
    id = lower_matmul(n, coords);
  else
    fail("lower", "cannot lower {} : {}{}", op_name(n->op), dtype_name(n->dtype),
         shape_str(n->shape));

  if (inlined(n) && is_compute(n->op) && op_names_.size() < 4 &&
      std::find(op_names_.begin(), op_names_.end(), op_name(n->op)) == op_names_.end())
    op_names_.emplace_back(op_name(n->op));
  memo_[key] = id;
  return id;
}

bool Lowerer::inlines_stage(Node* n) {
  if (!inlined(n)) return false;
  auto [it, fresh] = inlines_stage_.try_emplace(n, false);
  if (!fresh) return it->second;
  bool stage = is_reduce(n->op) || n->op == Op::Matmul;
  for (auto& in : n->inputs) stage = stage || inlines_stage(in.get());
  return inlines_stage_[n] = stage;
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
  case Op::Expand: {
    size_t lead = n->shape.size() - is.size(); // dims the expand added in front
    for (size_t d = 0; d < is.size(); ++d)
      ic[d] = is[d] == n->shape[lead + d] ? coords[lead + d] : iconst(0);
    return lower(in, ic);
  }
  case Op::Slice: {
    auto& s = n->get<SliceAttr>();
    for (size_t d = 0; d < is.size(); ++d)
      ic[d] = iadd(iconst(s.start[d]), imul(coords[d], s.step[d], ctx_), ctx_);
    return lower(in, ic);
  }
  default: {
    // Pad: the input where in range, else the pad value. The input is evaluated at unclamped
    // indices with its loads masked to the range, so they stay affine (masked vector loads).
    // An input that inlines a stage is read at indices clamped to the range instead: the
    // stage's loads run in loops of their own, where the pad's mask does not exist.
    auto& p = n->get<PadAttr>();
    bool masked = !inlines_stage(in);
    IExprPtr valid;
    for (size_t d = 0; d < is.size(); ++d) {
      IExprPtr c = iadd(coords[d], iconst(-p.before[d]), ctx_);
      IExprPtr ok = iand(ige(c, 0, ctx_), ilt(c, is[d], ctx_));
      ic[d] = masked ? c : iselect(ok, c, iconst(0), ctx_);
      valid = iand(valid, ok);
    }
    IExprPtr outer = mask_;
    if (masked) mask_ = iand(outer, valid);
    int value = lower(in, ic);
    mask_ = outer;
    if (!valid) return value;
    KInst k{Op::Where, n->dtype};
    k.a = emit_expr(valid, DType::Bool);
    k.b = value;
    k.c = emit_const(n->dtype, p.value);
    return emit(k);
  }
  }
}

// Lowers what a stage loops over, remembering its top compute node for conflicts.
int Lowerer::lower_stage_input(Node* in, const std::vector<IExprPtr>& coords) {
  Node* top = in;
  while (inlined(top) && is_movement(top->op)) top = top->inputs[0].get();
  stage_inputs_.push_back(inlined(top) ? top : nullptr);
  int id = lower(in, coords);
  stage_inputs_.pop_back();
  return id;
}

// A reduction (or matmul) inlined here gets a stage of its own, computed once per outer point.
int Lowerer::open_stage(Node* n, std::vector<int64_t> extents,
                        const std::vector<IExprPtr>& coords) {
  bool is_root = std::count(roots_.begin(), roots_.end(), n) > 0;
  bool nested = std::any_of(coords.begin(), coords.end(), uses_rvar);
  bool recomputed = !is_root && n->numel() != numel(ctx_.domain);
  if (!nested && !recomputed) {
    ctx_.stages.push_back(std::move(extents));
    return static_cast<int>(ctx_.stages.size()) - 1;
  }
  // The reduction cannot be a stage here: it would run inside another stage's loop, or once per
  // output element. If it is a row reduction under an elementwise op of its input's shape that
  // feeds a stage (a softmax feeding a matmul), that op becomes a kernel output, which makes the
  // whole softmax one kernel; otherwise the reduction itself does.
  Node* top = stage_inputs_.empty() ? nullptr : stage_inputs_.back();
  bool row_wise = is_reduce(n->op) && top && n->inputs[0]->shape == top->shape &&
                  n->get<AxesAttr>().axes.back() == static_cast<int>(n->shape.size()) - 1;
  Node* culprit = top && top != n && is_elementwise(top->op) && row_wise ? top : n;
  throw FusionConflict(culprit,
                       fmt::format("{} would be {}", op_name(n->op),
                                   nested ? "nested in another stage" : "recomputed per output"));
}

int Lowerer::lower_reduce(Node* n, const std::vector<IExprPtr>& coords) {
  auto& axes = n->get<AxesAttr>().axes;
  const Shape& is = n->inputs[0]->shape;
  std::vector<int64_t> extents;
  for (int a : axes) extents.push_back(is[a]);
  if (numel(extents) == 1) {
    // Over one element a reduction is that element: no stage (nn's materialize copies so).
    if (n->op == Op::ArgMax || n->op == Op::ArgMin) return emit_const(n->dtype, Scalar{});
    std::vector<IExprPtr> ic = coords;
    for (int a : axes) ic[a] = iconst(0);
    int v = lower(n->inputs[0].get(), ic);
    if (n->inputs[0]->dtype == n->dtype) return v;
    KInst cast{Op::Cast, n->dtype};
    cast.a = v;
    return emit(cast);
  }
  int stage = open_stage(n, extents, coords);
  std::vector<IExprPtr> ic = coords;
  for (size_t j = 0; j < axes.size(); ++j) ic[axes[j]] = irvar(stage, static_cast<int>(j));
  KInst k{n->op, n->dtype};
  k.a = lower_stage_input(n->inputs[0].get(), ic);
  k.stage = stage;
  if (n->op == Op::ArgMax || n->op == Op::ArgMin) k.b = emit_expr(irvar(stage, 0), DType::I64);
  stage_done_.push_back(stage);
  return emit(k);
}

int Lowerer::lower_matmul(Node* n, const std::vector<IExprPtr>& coords) {
  size_t r = n->shape.size();
  product_rows_ = n->shape[r - 2];
  product_cols_ = n->shape[r - 1];
  // The tiled matmul kernel runs the kernel's innermost loop along the product's columns. Read
  // in another order (through a transpose, or a permute of its epilogue) it would become one
  // dot product per output: then it is written in its own order instead.
  bool along_columns = false;
  int innermost = static_cast<int>(ctx_.domain.size()) - 1;
  for (auto& [atom, coef] : coords[r - 1]->terms)
    along_columns =
        along_columns || (atom->kind == IExpr::Kind::Var && atom->c == innermost && coef == 1);
  int stage = open_stage(n, {n->inputs[0]->shape[r - 1]}, coords); // its own conflicts first
  bool is_root = std::count(roots_.begin(), roots_.end(), n) > 0;
  if (!is_root && !along_columns && n->shape[r - 1] > 1)
    throw FusionConflict(n, "matmul would be read across its columns");
  std::vector<IExprPtr> ac = coords, bc = coords;
  ac[r - 1] = irvar(stage, 0);
  bc[r - 2] = irvar(stage, 0);
  KInst mul{Op::Mul, n->dtype};
  mul.a = lower_stage_input(n->inputs[0].get(), ac);
  mul.b = lower_stage_input(n->inputs[1].get(), bc);
  KInst sum{Op::Sum, n->dtype};
  sum.a = emit(mul);
  sum.stage = stage;
  stage_done_.push_back(stage);
  return emit(sum);
}

void Lowerer::rewrite_exprs(const std::vector<IExprPtr>& vars,
                            const std::vector<std::vector<IExprPtr>>& rvars,
                            const IndexContext& next) {
  for (auto& p : insts_)
    if (p.expr) {
      IExprPtr e = isubstitute(p.expr, vars, rvars, next);
      p.expr = e ? e : iconst(1); // a mask that became always true
    }
  ctx_ = next;
}

// Renumbers stages so that their ids follow execution order (a stage runs after the stages
// its values depend on: the order in which their lowering completed).
void Lowerer::order_stages() {
  std::vector<int> final_id(ctx_.stages.size());
  IndexContext next = ctx_;
  for (size_t i = 0; i < stage_done_.size(); ++i) {
    final_id[stage_done_[i]] = static_cast<int>(i);
    next.stages[i] = ctx_.stages[stage_done_[i]];
  }
  std::vector<IExprPtr> vars;
  for (size_t d = 0; d < ctx_.domain.size(); ++d) vars.push_back(ivar(static_cast<int>(d)));
  std::vector<std::vector<IExprPtr>> rvars(ctx_.stages.size());
  for (size_t s = 0; s < ctx_.stages.size(); ++s)
    for (size_t a = 0; a < ctx_.stages[s].size(); ++a)
      rvars[s].push_back(irvar(final_id[s], static_cast<int>(a)));
  for (auto& p : insts_)
    if (p.k.stage >= 0) p.k.stage = final_id[p.k.stage];
  rewrite_exprs(vars, rvars, next);
}

// Tries to merge loop d+1 into loop d of the domain (stage < 0) or of a stage: accepted when the
// index expressions need no more div/mod than before (a contiguous elementwise kernel becomes one
// flat loop, a row reduction one outer loop).
bool Lowerer::try_merge(int d, int stage, bool force) {
  IndexContext m = ctx_;
  auto& md = stage < 0 ? m.domain : m.stages[stage];
  int64_t inner = md[d + 1];
  if (inner <= 0 || md[d] <= 0) return false; // an empty loop nest never runs
  md[d] *= inner;
  md.erase(md.begin() + d + 1);
  auto var = [&](int a) { return stage < 0 ? ivar(a) : irvar(stage, a); };
  std::vector<IExprPtr> sub;
  for (int j = 0; j < static_cast<int>(md.size()) + 1; ++j) {
    if (j < d)
      sub.push_back(var(j));
    else if (j == d)
      sub.push_back(idiv(var(d), inner, m));
    else if (j == d + 1)
      sub.push_back(imod(var(d), inner, m));
    else
      sub.push_back(var(j - 1));
  }
  auto [vars, rvars] = identity();
  (stage < 0 ? vars : rvars[stage]) = sub;
  int before = 0, after = 0;
  std::vector<IExprPtr> out(insts_.size());
  for (size_t i = 0; i < insts_.size(); ++i) {
    if (!insts_[i].expr) continue;
    before += inonaffine_count(insts_[i].expr);
    out[i] = isubstitute(insts_[i].expr, vars, rvars, m);
    after += inonaffine_count(out[i]);
  }
  if (after > before && !force) return false;
  for (size_t i = 0; i < insts_.size(); ++i)
    if (insts_[i].expr) insts_[i].expr = out[i] ? out[i] : iconst(1);
  ctx_ = m;
  return true;
}

void Lowerer::merge_dims() {
  for (int stage = -1; stage < static_cast<int>(ctx_.stages.size()); ++stage) {
    auto dims_of = [&]() -> std::vector<int64_t>& {
      return stage < 0 ? ctx_.domain : ctx_.stages[stage];
    };
    // Drop extent-1 loops (but keep one loop per stage).
    IndexContext next = ctx_;
    auto& nd = stage < 0 ? next.domain : next.stages[stage];
    nd.clear();
    std::vector<IExprPtr> sub;
    for (int64_t e : dims_of()) {
      int a = static_cast<int>(nd.size());
      sub.push_back(e == 1 ? iconst(0) : (stage < 0 ? ivar(a) : irvar(stage, a)));
      if (e != 1) nd.push_back(e);
    }
    if (stage >= 0 && nd.empty()) continue;
    auto [vars, rvars] = identity();
    (stage < 0 ? vars : rvars[stage]) = sub;
    rewrite_exprs(vars, rvars, next);
    for (int d = static_cast<int>(dims_of().size()) - 2; d >= 0; --d) try_merge(d, stage);
  }
  merge_product_columns();
}

// A product's columns split into several loops by a reshape of its consumers (a convolution's
// output pixels, [OH * OW] read as [OH, OW]) become one loop again, even where that costs a
// div/mod in an index: the packed GEMM needs rows and columns as the domain's last two loops
// (passes/gemm_match.h), and its packing evaluates that div/mod once per panel, not per product.
void Lowerer::merge_product_columns() {
  auto& dom = ctx_.domain;
  if (product_cols_ <= 0 || dom.size() < 3) return;
  int64_t cols = 1;
  int t = static_cast<int>(dom.size());
  while (t > 0 && cols < product_cols_) cols *= dom[--t];
  if (cols != product_cols_ || t < 1 || static_cast<int>(dom.size()) - t < 2 ||
      dom[t - 1] != product_rows_)
    return;
  for (int d = static_cast<int>(dom.size()) - 2; d >= t; --d) try_merge(d, -1, true);
}

Kernel Lowerer::finish(const std::vector<std::pair<int, int>>& outputs,
                       const std::vector<int>& out_args) {
  Kernel k;
  k.domain = to_sym(ctx_.domain);
  for (auto& st : ctx_.stages) k.stages.push_back(to_sym(st));
  for (Node* a : args_) k.args.push_back({a->dtype, a->numel(), false});
  for (Node* p : params_) k.params.push_back(p->dtype);
  // Emit final instructions with value numbering, so equal index math is computed once.
  InstNumbering numbering;
  auto add = [&](const KInst& in) { return numbering.add(k, in); };
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
      if (e->kind == IExpr::Kind::RVar) i.stage = e->stage;
      return add(i);
    }
    case IExpr::Kind::Div:
      return bin(Op::FloorDiv, DType::I64, expr(e->a), cst(e->c));
    case IExpr::Kind::Mod:
      return bin(Op::Mod, DType::I64, expr(e->a), cst(e->c));
    case IExpr::Kind::Lt:
      return bin(Op::Lt, DType::Bool, expr(e->a), cst(e->c));
    case IExpr::Kind::Ge:
      return bin(Op::Ge, DType::Bool, expr(e->a), cst(e->c));
    case IExpr::Kind::And:
      return bin(Op::LogicalAnd, DType::Bool, expr(e->a), expr(e->b));
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
      if (p.k.dtype == DType::Bool && k.insts[e].dtype != DType::Bool) { // a mask simplified to 1
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
  std::string prefix = "k";
  for (auto& n : op_names_) prefix += "_" + n;
  if (op_names_.empty()) prefix += "_view"; // an output that is a view: a copy in its layout
  name_kernel(k, prefix);
  return k;
}

LoweredKernel Lowerer::run(const std::vector<Node*>& roots) {
  roots_ = roots;
  if (roots.size() == 1)
    if (auto a = match_attention(roots[0]); a && std::all_of(a->interior.begin(), a->interior.end(),
                                                             [&](Node* x) { return inlined(x); }))
      return run_attention(*a);
  const Shape& shape = roots[0]->shape;
  for (Node* r : roots)
    if (r->shape != shape)
      fail("lower", "kernel roots differ in shape: {} vs {}", shape_str(shape),
           shape_str(r->shape));
  // A reduction root is its own stage; other roots may take a map stage.
  bool reducing_root = std::any_of(roots.begin(), roots.end(), reduces);
  std::vector<int> mapped = reducing_root ? std::vector<int>{} : map_axes();
  // Root coordinates: outer loops for kept axes, a final map stage over the mapped ones.
  int map_stage = -1;
  std::vector<int64_t> map_extents;
  for (int a : mapped) map_extents.push_back(shape[a]);
  if (!mapped.empty()) {
    ctx_.stages.push_back(map_extents);
    map_stage = 0;
  }
  std::vector<IExprPtr> coords;
  for (size_t d = 0; d < shape.size(); ++d) {
    auto it = std::find(mapped.begin(), mapped.end(), static_cast<int>(d));
    if (it != mapped.end())
      coords.push_back(irvar(map_stage, static_cast<int>(it - mapped.begin())));
    else {
      coords.push_back(ivar(static_cast<int>(ctx_.domain.size())));
      ctx_.domain.push_back(shape[d]);
    }
  }
  std::vector<std::pair<int, int>> outputs; // (value inst, index inst)
  auto strides = contiguous_strides(shape);
  for (Node* r : roots) {
    int value = lower(r, coords);
    IExprPtr idx = iconst(0);
    for (size_t d = 0; d < shape.size(); ++d)
      idx = iadd(idx, imul(coords[d], strides[d], ctx_), ctx_);
    outputs.push_back({value, emit_expr(idx, DType::I64)});
  }
  if (map_stage >= 0) stage_done_.push_back(map_stage);
  order_stages();
  merge_dims();
  return finish_lowering(outputs);
}

LoweredKernel Lowerer::finish_lowering(const std::vector<std::pair<int, int>>& outputs) {
  std::vector<int> out_args;
  for (Node* r : roots_) {
    out_args.push_back(static_cast<int>(args_.size()));
    args_.push_back(r);
  }
  Kernel k = finish(outputs, out_args);
  if (std::string err = verify_kernel(k); !err.empty())
    fail("lower", "malformed kernel {}: {}\n{}", k.name, err, print_kernel(k));
  return {std::move(k), args_, params_};
}

// The kernel of an attention pattern (passes/attention_match.h): domain [batch, M, N] (the batch
// dims as one loop, of 1 without any), stage 0 [D] nested in stage 1 [L] (ir/kernel.h). The
// scores' elementwise function is lowered at (m, j) over the dot product standing for q @ kt.
LoweredKernel Lowerer::run_attention(const AttentionPattern& a) {
  const Shape& shape = a.out->shape;
  size_t r = shape.size();
  std::vector<IExprPtr> batch;
  if (r == 2) ctx_.domain.push_back(1);
  for (size_t d = 0; d + 2 < r; ++d) {
    batch.push_back(ivar(static_cast<int>(d)));
    ctx_.domain.push_back(shape[d]);
  }
  int nb = static_cast<int>(ctx_.domain.size());
  IExprPtr m = ivar(nb), n = ivar(nb + 1), d = irvar(0, 0), j = irvar(1, 0);
  ctx_.domain.insert(ctx_.domain.end(), {shape[r - 2], shape[r - 1]});
  ctx_.stages = {{a.q->shape[r - 1]}, {a.scores->shape[r - 1]}};
  auto at = [&](const IExprPtr& x, const IExprPtr& y) {
    std::vector<IExprPtr> c = batch;
    c.insert(c.end(), {x, y});
    return c;
  };
  op_names_.emplace_back("attention");
  DType t = a.out->dtype;
  KInst mul{Op::Mul, t};
  mul.a = lower(a.q, at(m, d));
  mul.b = lower(a.kt, at(d, j));
  KInst dot{Op::Sum, t};
  dot.a = emit(mul);
  dot.stage = 0;
  memo_[memo_key(a.product, at(m, j))] = emit(dot);
  KInst o{Op::SoftmaxSum, t};
  o.a = lower(a.scores, at(m, j));
  o.b = lower(a.v, at(j, n));
  o.stage = 1;
  // A side input of the scores that is a reduction would add a stage of its own.
  if (ctx_.stages.size() != 2)
    throw FusionConflict(a.scores, "attention scores read a reduction of their own");
  auto strides = contiguous_strides(shape);
  std::vector<IExprPtr> oc = at(m, n);
  IExprPtr idx = iconst(0);
  for (size_t x = 0; x < r; ++x) idx = iadd(idx, imul(oc[x], strides[x], ctx_), ctx_);
  std::vector<std::pair<int, int>> outputs = {{emit(o), emit_expr(idx, DType::I64)}};
  for (int x = nb - 2; x >= 0; --x) try_merge(x, -1, /*force=*/true);
  return finish_lowering(outputs);
}

} // namespace

LoweredKernel lower_kernel(const std::vector<Node*>& roots,
                           const std::function<bool(Node*)>& is_boundary) {
  return Lowerer(is_boundary).run(roots);
}

} // namespace kiln
