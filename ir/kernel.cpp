#include "ir/kernel.h"

#include "ir/graph_printer.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

namespace {

// Per instruction, a bit per stage whose loop index its value varies with (a reduction's result
// no longer varies with its own stage's index, but still with those of stages it nests in).
std::vector<uint64_t> stages_read(const Kernel& k) {
  std::vector<uint64_t> used(k.insts.size(), 0);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::ReduceIndex && in.stage >= 0 && in.stage < 64)
      used[i] = uint64_t{1} << in.stage;
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && s < static_cast<int>(i)) used[i] |= used[s];
    if (is_stage_reduce(in.op) && in.stage >= 0 && in.stage < 64)
      used[i] &= ~(uint64_t{1} << in.stage);
  }
  return used;
}

} // namespace

std::vector<int> Kernel::stage_parents() const {
  std::vector<int> parent(stages.size(), -1);
  auto used = stages_read(*this);
  for (size_t i = 0; i < insts.size(); ++i) {
    const KInst& in = insts[i];
    if (!is_stage_reduce(in.op) || in.stage < 0 || in.stage >= (int)stages.size() || !used[i])
      continue;
    // The outermost stage of its result's (a nesting is one level deep: see verify_kernel).
    int p = 63 - __builtin_clzll(used[i]);
    if (p < (int)stages.size()) parent[in.stage] = p;
  }
  return parent;
}

std::vector<Placement> Kernel::placements() const {
  std::vector<Placement> p(insts.size());
  auto parent = stage_parents();
  // The inner of two loops when one nests in the other, else the later one (not well formed
  // unless equal: verify_kernel says so).
  auto inner = [&](int a, int b) {
    if (a >= 0 && b >= 0 && a != b && parent[a] == b) return a;
    if (a >= 0 && b >= 0 && a != b && parent[b] == a) return b;
    return std::max(a, b);
  };
  for (size_t i = 0; i < insts.size(); ++i) {
    const KInst& in = insts[i];
    if (in.op == Op::ReduceIndex) {
      p[i] = {in.stage, -1};
      continue;
    }
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && s < (int)i)
        p[i] = {inner(p[i].loop, p[s].loop), std::max(p[i].after, p[s].after)};
    // A reduction runs after its stage, inside the stage its own stage nests in (if any).
    if (is_stage_reduce(in.op))
      p[i] = {in.stage >= 0 && in.stage < (int)parent.size() ? parent[in.stage] : -1,
              std::max(p[i].after, in.stage)};
  }
  return p;
}

Placement Kernel::store_placement(const KStore& st, const std::vector<Placement>& p) const {
  return {std::max(p[st.index].loop, p[st.value].loop),
          std::max(p[st.index].after, p[st.value].after)};
}

int64_t Kernel::inner_size() const {
  int64_t n = 0;
  for (auto& s : stages) n += numel(s);
  return std::max<int64_t>(n, 1);
}

bool Kernel::symbolic() const {
  bool sym = any_symbolic(domain);
  for (auto& s : stages) sym = sym || any_symbolic(s);
  for (auto& a : args) sym = sym || a.numel.symbolic();
  for (auto& in : insts) sym = sym || in.op == Op::Sym;
  return sym;
}

void name_kernel(Kernel& k, std::string_view prefix) {
  k.name.clear();
  uint64_t h = 0xcbf29ce484222325ull; // FNV-1a, stable across runs and builds
  for (char c : print_kernel(k)) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  k.name = fmt::format("{}_{:06x}", prefix, h & 0xffffff);
}

std::string_view kernel_name_prefix(std::string_view name) {
  return name.substr(0, std::min(name.rfind('_'), name.size()));
}

int InstNumbering::add(Kernel& k, const KInst& in) {
  std::string key = fmt::format("{}.{}.{}.{}.{}.{}.{}.{}.{}|{}", (int)in.op, (int)in.dtype, in.a,
                                in.b, in.c, in.imm, in.stage, in.value.f, in.value.i,
                                in.op == Op::Sym ? sym_str(in.sym) : "");
  auto [it, fresh] = ids_.try_emplace(key, static_cast<int>(k.insts.size()));
  if (fresh) k.insts.push_back(in);
  return it->second;
}

std::string print_kernel(const Kernel& k) {
  std::vector<std::string> args;
  for (size_t i = 0; i < k.args.size(); ++i)
    args.push_back(fmt::format("a{}: {}[{}]{}", i, dtype_name(k.args[i].dtype),
                               sym_str(k.args[i].numel), k.args[i].output ? " out" : ""));
  for (size_t i = 0; i < k.params.size(); ++i)
    args.push_back(fmt::format("p{}: {}", i, dtype_name(k.params[i])));
  std::string s =
      fmt::format("kernel {}({})\n  domain {}\n", k.name, fmt::join(args, ", "), sym_str(k.domain));
  for (size_t st = 0; st < k.stages.size(); ++st)
    s += fmt::format("  stage {} {}\n", st, sym_str(k.stages[st]));
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    std::string rhs;
    if (in.op == Op::Const)
      rhs = "const " + scalar_str(in.value, in.dtype);
    else if (in.op == Op::LoopIndex)
      rhs = fmt::format("index {}", in.imm);
    else if (in.op == Op::Param)
      rhs = fmt::format("param p{}", in.imm);
    else if (in.op == Op::Sym)
      rhs = "sym " + (in.value.f != 0 ? fmt::format("{}/({})", in.value.f, sym_str(in.sym))
                                      : sym_str(in.sym));
    else if (in.op == Op::ReduceIndex)
      rhs = fmt::format("rindex {}.{}", in.stage, in.imm);
    else if (in.op == Op::Load)
      rhs = fmt::format("load a{}[%{}]{}", in.imm, in.a,
                        in.b >= 0 ? fmt::format(" if %{}", in.b) : "");
    else {
      rhs = std::string(op_name(in.op));
      int n = 0;
      for (int src : {in.a, in.b, in.c})
        if (src >= 0) rhs += fmt::format("{}%{}", n++ ? ", " : " ", src);
      if (is_stage_reduce(in.op)) rhs += fmt::format(" @{}", in.stage);
    }
    s += fmt::format("  %{} = {} : {}\n", i, rhs, dtype_name(in.dtype));
  }
  for (const KStore& st : k.stores)
    s += fmt::format("  store a{}[%{}] = %{}\n", st.arg, st.index, st.value);
  return s;
}

namespace {

// Why the kernel's integers are malformed ("" when not): a symbol must be an i64 parameter, and
// extents and element counts of a concrete kernel are non-negative.
std::string verify_sym_ints(const Kernel& k) {
  auto check = [&](const SymInt& v, std::string_view what) -> std::string {
    if (!v.symbolic() && (v.c1 || v.c2 || v.param != -1))
      return fmt::format("{} {} is not normalised", what, sym_str(v));
    if (!v.symbolic()) return v.c0 < 0 ? fmt::format("negative {}", what) : "";
    if (v.param >= (int)k.params.size() || k.params[v.param] != DType::I64)
      return fmt::format("{} {} needs p{} to be an i64 parameter", what, sym_str(v), v.param);
    return "";
  };
  std::string err;
  for (auto& d : k.domain)
    if (err.empty()) err = check(d, "domain extent");
  for (auto& s : k.stages)
    for (auto& d : s)
      if (err.empty()) err = check(d, "stage extent");
  for (auto& a : k.args)
    if (err.empty()) err = check(a.numel, "element count");
  for (size_t i = 0; i < k.insts.size() && err.empty(); ++i) {
    const KInst& in = k.insts[i];
    if (in.op == Op::Sym && (in.dtype == DType::Bool || !in.sym.symbolic()))
      err = fmt::format("%{} sym must be a symbolic number", i);
    if (in.op == Op::Sym && err.empty()) err = check(in.sym, "sym");
    // A reciprocal sym (ir/sym_literal.h): an integer numerator over the polynomial, a float.
    bool numerator = in.value.f != 0;
    if (in.op == Op::Sym && err.empty() &&
        (in.value.i != 0 ||
         (numerator && (!is_float(in.dtype) || in.value.f != std::floor(in.value.f)))))
      err = fmt::format("%{} sym has a bad numerator", i);
    if (in.op != Op::Sym && in.sym != SymInt())
      err = fmt::format("%{} has a polynomial but is no sym", i);
  }
  return err;
}

} // namespace

std::string verify_kernel(const Kernel& k) {
  if (std::string err = verify_sym_ints(k); !err.empty()) return err;
  auto p = k.placements();
  auto parent = k.stage_parents();
  auto used = stages_read(k);
  int nstages = static_cast<int>(k.stages.size());
  if (nstages > 63) return "more than 63 stages";
  for (int s = 0; s < nstages; ++s) {
    if (parent[s] < 0) continue;
    bool softmax = std::any_of(k.insts.begin(), k.insts.end(), [&](const KInst& in) {
      return in.op == Op::SoftmaxSum && in.stage == parent[s];
    });
    if (parent[s] <= s || parent[parent[s]] >= 0 || !softmax)
      return fmt::format("stage {} nests in stage {}: only a lower stage nests, one level deep, "
                         "in the stage of a softmax_sum",
                         s, parent[s]);
  }
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    for (int s : {in.a, in.b, in.c})
      if (s >= (int)i) return fmt::format("%{} uses a later value", i);
    if (in.op == Op::Load &&
        (in.imm < 0 || in.imm >= (int64_t)k.args.size() || k.args[in.imm].dtype != in.dtype))
      return fmt::format("%{} loads a bad argument", i);
    if (in.op == Op::Load && in.b >= 0 && k.insts[in.b].dtype != DType::Bool)
      return fmt::format("%{} has a load mask that is not bool", i);
    if (in.op == Op::Param &&
        (in.imm < 0 || in.imm >= (int64_t)k.params.size() || k.params[in.imm] != in.dtype))
      return fmt::format("%{} bad parameter", i);
    if (in.op == Op::LoopIndex && (in.imm < 0 || in.imm >= (int64_t)k.domain.size()))
      return fmt::format("%{} bad loop axis", i);
    if ((in.op == Op::ReduceIndex || is_stage_reduce(in.op)) &&
        (in.stage < 0 || in.stage >= nstages))
      return fmt::format("%{} bad stage", i);
    if (in.op == Op::ReduceIndex && (in.imm < 0 || in.imm >= (int64_t)k.stages[in.stage].size()))
      return fmt::format("%{} bad stage axis", i);
    if (is_stage_reduce(in.op) && __builtin_popcountll(used[i]) > 1)
      return fmt::format("%{} nests in two stages", i);
    for (int x : {in.a, in.op == Op::SoftmaxSum ? in.b : -1})
      if (x >= 0 && is_stage_reduce(in.op) &&
          (p[x].loop > in.stage || p[x].after >= in.stage ||
           (p[x].loop >= 0 && p[x].loop != in.stage)))
        return fmt::format("%{} reduces a value of another stage", i);
    // A nested stage's loop may read values of the loop it runs in.
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && p[s].loop >= 0 && p[i].loop >= 0 && p[s].loop != p[i].loop &&
          parent[p[i].loop] != p[s].loop && !is_stage_reduce(in.op))
        return fmt::format("%{} mixes the loops of two stages", i);
    if (p[i].loop >= 0 && p[i].after >= p[i].loop)
      return fmt::format("%{} runs in a stage before its inputs", i);
  }
  for (const KStore& st : k.stores) {
    if (st.arg < 0 || st.arg >= (int)k.args.size() || !k.args[st.arg].output)
      return "store to a non-output";
    if (k.insts[st.value].dtype != k.args[st.arg].dtype) return "store dtype";
    Placement sp = k.store_placement(st, p);
    if (sp.loop >= 0 &&
        (sp.after >= sp.loop || !std::all_of(k.insts.begin(), k.insts.end(), [&](const KInst& in) {
           return !is_stage_reduce(in.op) || in.stage != sp.loop;
         })))
      return "store inside a reduction stage";
  }
  return "";
}

std::optional<int64_t> index_stride(const Kernel& k, int i, Op loop, int64_t axis) {
  const KInst& in = k.insts[i];
  auto sub = [&](int s) { return index_stride(k, s, loop, axis); };
  switch (in.op) {
  case Op::LoopIndex:
  case Op::ReduceIndex:
    return in.op == loop && in.imm == axis ? 1 : 0;
  case Op::Const:
    return 0;
  case Op::Add: {
    auto a = sub(in.a), b = sub(in.b);
    if (!a || !b) return std::nullopt;
    return *a + *b;
  }
  case Op::Mul: {
    auto a = sub(in.a), b = sub(in.b);
    if (!a || !b) return std::nullopt;
    if (*b == 0 && k.insts[in.b].op == Op::Const) return *a * k.insts[in.b].value.i;
    if (*a == 0 && k.insts[in.a].op == Op::Const) return *b * k.insts[in.a].value.i;
    return (*a == 0 && *b == 0) ? std::optional<int64_t>(0) : std::nullopt;
  }
  default:
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && sub(s) != std::optional<int64_t>(0)) return std::nullopt;
    return 0;
  }
}

} // namespace kiln
