#include "codegen/interp/kernel_eval.h"

#include "codegen/host/host_backend.h"
#include "ir/error.h"
#include "ir/scalar_eval.h"
#include "ir/sym_literal.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln {
namespace {

constexpr int64_t kLanes = 256; // loop iterations one column holds

// One instruction's values over the current lanes; a single value when it is the same in all.
struct Col {
  int64_t n = 1;
  std::vector<Scalar> v;
  const Scalar& at(int64_t j) const { return v[n == 1 ? 0 : j]; }
  void set1(Scalar s) {
    n = 1;
    v.assign(1, s);
  }
};

// scalar_eval computes floats in double; f32 results round like the compiled code's.
Scalar rounded(DType t, Scalar s) {
  if (t == DType::F32) s.f = static_cast<float>(s.f);
  return s;
}

// Floor division and modulo of index arithmetic, as codegen/cpu lowers them (positive divisors).
int64_t floor_div_mod(Op op, int64_t x, int64_t y) {
  if (y == 0) return 0;
  int64_t q = x / y, r = x % y;
  bool neg = r < 0;
  return op == Op::FloorDiv ? q - neg : r + (neg ? y : 0);
}

// The coordinates of n consecutive points of a row-major space, starting at flat position p:
// c[d][j] is lane j's index along axis d.
void set_coords(std::vector<std::vector<int64_t>>& c, const std::vector<int64_t>& dims, int64_t p,
                int64_t n) {
  size_t r = dims.size();
  c.resize(r);
  std::vector<int64_t> at(r);
  for (size_t d = r; d-- > 0;) {
    at[d] = p % dims[d];
    p /= dims[d];
  }
  for (size_t d = 0; d < r; ++d) c[d].resize(n);
  for (int64_t j = 0; j < n; ++j) {
    for (size_t d = 0; d < r; ++d) c[d][j] = at[d];
    for (size_t d = r; d-- > 0 && ++at[d] == dims[d];) at[d] = 0;
  }
}

// A reduction's running state, with the semantics of codegen/cpu/emit_stages.cpp.
struct Acc {
  Scalar value;
  int64_t index = 0; // argmax/argmin: the first index of the extreme
  bool nan = false;  // float max/min: a NaN was seen (the result is NaN)
  // softmax_sum: the running max of the scores and the sum of exp(score - max); value.f holds the
  // sum of exp(score - max) * v.
  double max = -std::numeric_limits<double>::infinity(), weights = 0;
};

// The smallest (low) or largest value of an integer or bool dtype.
int64_t int_limit(DType t, bool low) {
  switch (t) {
  case DType::Bool:
    return low ? 0 : 1;
  case DType::U8:
    return low ? 0 : 255;
  case DType::I32:
    return low ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
  default:
    return low ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
}

Acc reduce_init(Op op, DType t) {
  Acc a;
  if (op == Op::Sum || op == Op::SoftmaxSum) return a;
  if (op == Op::Prod) {
    a.value = {1, 1};
    return a;
  }
  bool low = op == Op::Max || op == Op::ArgMax;
  double inf = std::numeric_limits<double>::infinity();
  if (is_float(t))
    a.value.f = low ? -inf : inf;
  else
    a.value.i = int_limit(t, low);
  return a;
}

void accumulate(Op op, DType t, Acc& a, const Scalar& x, int64_t index) {
  bool fp = is_float(t);
  auto wrap = [](uint64_t v) { return static_cast<int64_t>(v); };
  switch (op) {
  case Op::Sum: // floats accumulate in double: an oracle, not a copy of the vectorized order
    if (fp)
      a.value.f += x.f;
    else
      a.value.i =
          t == DType::Bool ? (a.value.i || x.i) : wrap(static_cast<uint64_t>(a.value.i) + x.i);
    return;
  case Op::Prod:
    if (fp)
      a.value.f *= x.f;
    else
      a.value.i =
          t == DType::Bool ? (a.value.i && x.i) : wrap(static_cast<uint64_t>(a.value.i) * x.i);
    return;
  case Op::Max:
  case Op::Min:
    if (fp && std::isnan(x.f))
      a.nan = true;
    else if (fp)
      a.value.f = op == Op::Max ? std::max(a.value.f, x.f) : std::min(a.value.f, x.f);
    else
      a.value.i = op == Op::Max ? std::max(a.value.i, x.i) : std::min(a.value.i, x.i);
    return;
  default: { // first index of the max (min); NaN counts as the extreme
    bool max = op == Op::ArgMax;
    bool better =
        fp ? (max ? x.f > a.value.f : x.f < a.value.f) : (max ? x.i > a.value.i : x.i < a.value.i);
    if (fp && std::isnan(x.f) && !std::isnan(a.value.f)) better = true;
    if (better) a.value = x, a.index = index;
  }
  }
}

// One (score, value) pair into softmax_sum's online softmax. A score of -inf before any finite
// one weighs 0 (times v, so a NaN v still shows): all -inf gives 0 / 0, NaN, as the unfused
// softmax does.
void accumulate_softmax(Acc& a, double score, double v) {
  if (std::isnan(score)) a.nan = true;
  double max = std::max(a.max, score);
  if (max == -std::numeric_limits<double>::infinity()) {
    a.value.f += 0 * v;
    return;
  }
  double rescale = std::exp(a.max - max), w = std::exp(score - max);
  a.value.f = a.value.f * rescale + w * v;
  a.weights = a.weights * rescale + w;
  a.max = max;
}

Scalar reduce_result(const KInst& in, DType t, const Acc& a) {
  if (in.op == Op::SoftmaxSum)
    return rounded(
        in.dtype,
        Scalar{a.nan ? std::numeric_limits<double>::quiet_NaN() : a.value.f / a.weights, 0});
  if (in.op == Op::ArgMax || in.op == Op::ArgMin) return Scalar{0, a.index};
  if (a.nan) return Scalar{std::numeric_limits<double>::quiet_NaN(), 0};
  return rounded(in.dtype, eval_cast(a.value, t, in.dtype));
}

} // namespace

// The state of one KernelEval::run call (one thread's rows).
class EvalRun {
public:
  EvalRun(const KernelEval& e, void* const* args)
      : e_(e), k_(e.k_), args_(args), x_(e.extents(args)), cols_(k_.insts.size()),
        rcoord_(k_.stages.size()), accs_(k_.stages.size()) {}

  void rows(int64_t begin, int64_t end) {
    int64_t rows = x_.domain.empty() ? 1 : x_.domain[0];
    int64_t per_row = rows > 0 ? x_.domain_size() / rows : 0; // outer points per row
    int64_t first = begin * per_row, last = end * per_row;    // flat outer points
    // A kernel without stages runs many outer points per column; one with stages runs its outer
    // points one at a time and the columns over its stages' iterations.
    int64_t step = k_.stages.empty() ? kLanes : 1;
    for (int64_t p = first; p < last; p += step) {
      set_coords(coord_, x_.domain, p, std::min(step, last - p));
      run(e_.outer_[0]);
      for (size_t s = 0; s < k_.stages.size(); ++s) {
        if (e_.parent_[s] < 0) stage(static_cast<int>(s)); // a nested stage runs in its parent
        run(e_.outer_[s + 1]);
      }
      store(e_.stores_[0]);
    }
  }

private:
  void run(const std::vector<int>& insts) {
    for (int i : insts) eval(i);
  }

  // Runs stage s's loops over their lanes, a column at a time; a stage with nested stages one
  // iteration at a time, its nested stages (in order) inside each.
  void stage(int s) {
    const std::vector<int>& red = e_.reductions_[s];
    std::vector<Acc>& accs = accs_[s];
    accs.clear();
    for (int r : red) accs.push_back(reduce_init(k_.insts[r].op, k_.insts[k_.insts[r].a].dtype));
    const auto& groups = e_.inner_[s]; // groups[g] runs after the first g nested stages
    const std::vector<int>& nested = e_.children_[s];
    int64_t total = numel(x_.stages[s]), lanes = nested.empty() ? kLanes : 1;
    for (int64_t p = 0; p < total; p += lanes) {
      int64_t n = std::min(lanes, total - p);
      set_coords(rcoord_[s], x_.stages[s], p, n);
      run(groups[0]);
      for (size_t c = 0; c < nested.size(); ++c) {
        stage(nested[c]);
        run(groups[c + 1]);
      }
      store(e_.stores_[s + 1]);
      for (size_t r = 0; r < red.size(); ++r) {
        const KInst& in = k_.insts[red[r]];
        const Col& x = cols_[in.a];
        if (in.op == Op::SoftmaxSum) {
          for (int64_t j = 0; j < n; ++j)
            accumulate_softmax(accs[r], x.at(j).f, cols_[in.b].at(j).f);
          continue;
        }
        const Col* index = in.b >= 0 ? &cols_[in.b] : nullptr;
        for (int64_t j = 0; j < n; ++j)
          accumulate(in.op, k_.insts[in.a].dtype, accs[r], x.at(j), index ? index->at(j).i : 0);
      }
    }
    for (size_t r = 0; r < red.size(); ++r) {
      const KInst& in = k_.insts[red[r]];
      cols_[red[r]].set1(reduce_result(in, k_.insts[in.a].dtype, accs[r]));
    }
  }

  int64_t lanes(const KInst& in) const {
    int64_t n = 1;
    for (int s : {in.a, in.b, in.c})
      if (s >= 0) n = std::max(n, cols_[s].n);
    return n;
  }

  void check_bounds(int arg, int64_t index, const char* what) const {
    if (index < 0 || index >= x_.arg_numel[arg])
      fail("interp", "kernel {} {} a{}[{}], outside its {} elements", k_.name, what, arg, index,
           x_.arg_numel[arg]);
  }

  void index_col(Col& out, const std::vector<int64_t>& idx) {
    out.n = static_cast<int64_t>(idx.size());
    out.v.resize(out.n);
    for (int64_t j = 0; j < out.n; ++j) out.v[j] = Scalar{0, idx[j]};
  }

  void eval(int i) {
    const KInst& in = k_.insts[i];
    Col& out = cols_[i];
    switch (in.op) {
    case Op::Const:
      return out.set1(rounded(in.dtype, in.value));
    case Op::Param:
      return out.set1(load_scalar(args_[k_.args.size() + in.imm], in.dtype, 0));
    case Op::Sym:
      return out.set1(rounded(in.dtype, sym_literal(in, x_.params.at(in.sym.param))));
    case Op::LoopIndex:
      return index_col(out, coord_[in.imm]);
    case Op::ReduceIndex:
      return index_col(out, rcoord_[in.stage][in.imm]);
    default:
      break;
    }
    out.n = lanes(in);
    out.v.resize(out.n);
    const Col& a = cols_[in.a];
    DType src = k_.insts[in.a].dtype;
    if (in.op == Op::Load) {
      const Col* mask = in.b >= 0 ? &cols_[in.b] : nullptr;
      for (int64_t j = 0; j < out.n; ++j) {
        if (mask && !mask->at(j).i) {
          out.v[j] = Scalar{};
          continue;
        }
        check_bounds(static_cast<int>(in.imm), a.at(j).i, "reads");
        out.v[j] = load_scalar(args_[in.imm], in.dtype, a.at(j).i);
      }
      return;
    }
    switch (op_category(in.op)) {
    case OpCategory::Unary:
      for (int64_t j = 0; j < out.n; ++j)
        out.v[j] = rounded(in.dtype, eval_unary(in.op, src, in.dtype, a.at(j)));
      return;
    case OpCategory::Binary: {
      const Col& b = cols_[in.b];
      for (int64_t j = 0; j < out.n; ++j)
        out.v[j] = rounded(in.dtype, eval_binary(in.op, src, a.at(j), b.at(j)));
      return;
    }
    case OpCategory::Ternary: {
      const Col &b = cols_[in.b], &c = cols_[in.c];
      for (int64_t j = 0; j < out.n; ++j) out.v[j] = a.at(j).i ? b.at(j) : c.at(j);
      return;
    }
    default:
      break;
    }
    if (in.op != Op::FloorDiv && in.op != Op::Mod)
      fail("interp", "unexpected {} in kernel {}", op_name(in.op), k_.name);
    const Col& b = cols_[in.b];
    for (int64_t j = 0; j < out.n; ++j)
      out.v[j] = Scalar{0, floor_div_mod(in.op, a.at(j).i, b.at(j).i)};
  }

  void store(const std::vector<int>& stores) {
    for (int s : stores) {
      const KStore& st = k_.stores[s];
      const Col &index = cols_[st.index], &value = cols_[st.value];
      DType t = k_.args[st.arg].dtype;
      for (int64_t j = 0, n = std::max(index.n, value.n); j < n; ++j) {
        check_bounds(st.arg, index.at(j).i, "writes");
        store_scalar(args_[st.arg], t, index.at(j).i, value.at(j));
      }
    }
  }

  const KernelEval& e_;
  const Kernel& k_;
  void* const* args_;
  KernelExtents x_;
  std::vector<Col> cols_;                                 // per instruction
  std::vector<std::vector<int64_t>> coord_;               // per domain axis: each lane's index
  std::vector<std::vector<std::vector<int64_t>>> rcoord_; // per stage, per axis: the same
  std::vector<std::vector<Acc>> accs_;                    // per stage: its reductions
};

KernelEval::KernelEval(const Kernel& k) : k_(k) {
  if (std::string err = verify_kernel(k); !err.empty())
    fail("interp", "kernel {} is malformed: {}", k.name, err);
  parent_ = k.stage_parents();
  std::vector<Placement> place = k.placements();
  size_t stages = k.stages.size();
  outer_.resize(stages + 1);
  inner_.resize(stages);
  children_.resize(stages);
  reductions_.resize(stages);
  stores_.resize(stages + 1);
  for (size_t s = 0; s < stages; ++s)
    if (parent_[s] >= 0) children_[parent_[s]].push_back(static_cast<int>(s));
  for (size_t s = 0; s < stages; ++s) inner_[s].resize(children_[s].size() + 1);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    int id = static_cast<int>(i);
    if (is_stage_reduce(k.insts[i].op)) {
      reductions_[k.insts[i].stage].push_back(id);
    } else if (int loop = place[i].loop; loop >= 0) {
      // After the last nested stage whose result it may use (stages are in execution order).
      const std::vector<int>& nested = children_[loop];
      size_t g = std::upper_bound(nested.begin(), nested.end(), place[i].after) - nested.begin();
      inner_[loop][g].push_back(id);
    } else {
      outer_[place[i].after + 1].push_back(id);
    }
  }
  for (size_t s = 0; s < k.stores.size(); ++s)
    stores_[k.store_placement(k.stores[s], place).loop + 1].push_back(static_cast<int>(s));
}

int64_t KernelExtents::domain_size() const { return numel(domain); }

KernelExtents KernelEval::extents(void* const* args) const {
  KernelExtents x;
  x.params = i64_params(k_, args);
  x.domain = sym_values(k_.domain, x.params);
  for (auto& s : k_.stages) x.stages.push_back(sym_values(s, x.params));
  for (auto& a : k_.args) x.arg_numel.push_back(sym_values({a.numel}, x.params)[0]);
  // A size the kernel was not made for (negative extents) must not run.
  for (int64_t d : x.domain)
    if (d < 0) fail("interp", "kernel {}: a negative extent {} at this launch", k_.name, d);
  for (auto& s : x.stages)
    for (int64_t d : s)
      if (d < 0) fail("interp", "kernel {}: a negative extent {} at this launch", k_.name, d);
  return x;
}

void KernelEval::run(void* const* args, int64_t begin, int64_t end) const {
  EvalRun(*this, args).rows(begin, end);
}

} // namespace kiln
