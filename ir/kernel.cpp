#include "ir/kernel.h"

#include "ir/graph_printer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

std::vector<Level> Kernel::levels() const {
  std::vector<Level> lv(insts.size(), Level::Outer);
  for (size_t i = 0; i < insts.size(); ++i) {
    const KInst& in = insts[i];
    if (in.op == Op::ReduceIndex) lv[i] = Level::Inner;
    else if (is_reduce(in.op)) lv[i] = Level::Post;
    else
      for (int s : {in.a, in.b, in.c})
        if (s >= 0 && s < (int)i) lv[i] = std::max(lv[i], lv[s]);
  }
  return lv;
}

std::string print_kernel(const Kernel& k) {
  std::vector<std::string> args;
  for (size_t i = 0; i < k.args.size(); ++i)
    args.push_back(fmt::format("a{}: {}[{}]{}", i, dtype_name(k.args[i].dtype), k.args[i].numel,
                               k.args[i].output ? " out" : ""));
  std::string s = fmt::format("kernel {}({})\n  domain [{}] reduce [{}]\n", k.name, fmt::join(args, ", "),
                              fmt::join(k.domain, ", "), fmt::join(k.reduce, ", "));
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    std::string rhs;
    if (in.op == Op::Const) rhs = "const " + scalar_str(in.value, in.dtype);
    else if (in.op == Op::LoopIndex || in.op == Op::ReduceIndex) rhs = fmt::format("{} {}", op_name(in.op), in.imm);
    else if (in.op == Op::Load) rhs = fmt::format("load a{}[%{}]", in.imm, in.a);
    else {
      rhs = std::string(op_name(in.op));
      int n = 0;
      for (int src : {in.a, in.b, in.c})
        if (src >= 0) rhs += fmt::format("{}%{}", n++ ? ", " : " ", src);
    }
    s += fmt::format("  %{} = {} : {}\n", i, rhs, dtype_name(in.dtype));
  }
  for (const KStore& st : k.stores) s += fmt::format("  store a{}[%{}] = %{}\n", st.arg, st.index, st.value);
  return s;
}

std::string verify_kernel(const Kernel& k) {
  auto lv = k.levels();
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    for (int s : {in.a, in.b, in.c})
      if (s >= (int)i) return fmt::format("%{} uses a later value", i);
    if (in.op == Op::Load && (in.imm < 0 || in.imm >= (int64_t)k.args.size() || k.args[in.imm].dtype != in.dtype))
      return fmt::format("%{} loads a bad argument", i);
    if (in.op == Op::LoopIndex && (in.imm < 0 || in.imm >= (int64_t)k.domain.size()))
      return fmt::format("%{} bad loop axis", i);
    if (in.op == Op::ReduceIndex && (in.imm < 0 || in.imm >= (int64_t)k.reduce.size()))
      return fmt::format("%{} bad reduce axis", i);
    if (is_reduce(in.op) && lv[in.a] == Level::Post) return fmt::format("%{} reduces a post value", i);
    if (lv[i] == Level::Inner)
      for (int s : {in.a, in.b, in.c})
        if (s >= 0 && lv[s] == Level::Post) return fmt::format("%{} mixes inner and post", i);
  }
  for (const KStore& st : k.stores) {
    if (st.arg < 0 || st.arg >= (int)k.args.size() || !k.args[st.arg].output) return "store to a non-output";
    if (lv[st.index] == Level::Inner || lv[st.value] == Level::Inner) return "store inside the reduce loop";
    if (k.insts[st.value].dtype != k.args[st.arg].dtype) return "store dtype";
  }
  return "";
}

} // namespace kiln
