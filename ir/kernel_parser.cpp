#include "ir/kernel_parser.h"

#include "ir/error.h"
#include "ir/text_cursor.h"

#include <charconv>
#include <fmt/format.h>

namespace kiln {
namespace {

class KernelParser {
public:
  KernelParser(std::string_view text, std::string_view source) : c_(text, source) {}
  std::vector<Kernel> run();

private:
  Kernel parse_one();
  void parse_args(Kernel& k);
  KInst parse_inst(const Kernel& k, int id);
  int operand(int id);
  int64_t numbered(char prefix, std::string_view what); // "a3" -> 3
  SymInt sym_int(std::string_view what);                // "784*p0", "p0^2+1", "12"
  std::vector<SymInt> sym_list(std::string_view what);  // "[784*p0, 10]"
  void check_types(const Kernel& k, const KInst& in, int line);

  TextCursor c_;
};

int64_t KernelParser::numbered(char prefix, std::string_view what) {
  c_.skip_spaces();
  int line = c_.line(), col = c_.column();
  std::string w = c_.word(what);
  int64_t v = 0;
  if (w.size() < 2 || w[0] != prefix || w.find_first_not_of("0123456789", 1) != std::string::npos ||
      w.size() > 10)
    c_.fail_at(line, col, fmt::format("expected {}, got '{}'", what, w));
  for (size_t i = 1; i < w.size(); ++i) v = v * 10 + (w[i] - '0');
  return v;
}

SymInt KernelParser::sym_int(std::string_view what) {
  c_.skip_spaces();
  int line = c_.line(), col = c_.column();
  int64_t coef[3] = {0, 0, 0};
  int param = -1;
  for (bool first = true;; first = false) {
    int64_t sign = 1;
    if (c_.accept('-'))
      sign = -1;
    else if (!first && !c_.accept('+'))
      break;
    c_.skip_spaces();
    int64_t m = 1;
    bool number = c_.peek() >= '0' && c_.peek() <= '9';
    if (number) {
      std::string w = c_.word(what);
      auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), m);
      if (ec != std::errc() || end != w.data() + w.size())
        c_.fail_at(line, col,
                   fmt::format("expected {} (an integer or a polynomial in one i64 "
                               "parameter, e.g. 784*p0), got '{}'",
                               what, w));
    }
    int degree = 0;
    if (!number || c_.accept('*')) {
      int p = static_cast<int>(numbered('p', fmt::format("a parameter pN in {}", what)));
      if (param >= 0 && p != param)
        c_.fail_at(line, col,
                   fmt::format("{} uses p{} and p{}: one parameter per extent", what, param, p));
      param = p;
      degree = 1;
      if (c_.accept('^')) {
        if (c_.integer("the exponent 2") != 2) c_.fail_expected("the exponent 2 (at most S^2)");
        degree = 2;
      }
    }
    if (__builtin_add_overflow(coef[degree], sign * m, &coef[degree]))
      c_.fail_at(line, col, fmt::format("{} overflows int64", what));
  }
  return SymInt::poly(param, coef[0], coef[1], coef[2]);
}

std::vector<SymInt> KernelParser::sym_list(std::string_view what) {
  c_.skip_spaces();
  int line = c_.line(), col = c_.column();
  c_.expect('[', fmt::format("'[' opening {}", what));
  std::vector<SymInt> v;
  if (!c_.accept(']')) {
    do v.push_back(sym_int(what));
    while (c_.accept(','));
    c_.expect(']', fmt::format("',' or ']' in {}", what));
  }
  // The concrete extents as TextCursor::shape checks them.
  int64_t n = 1;
  for (const SymInt& d : v) {
    if (d.symbolic()) continue;
    if (d.c0 < 0) c_.fail_at(line, col, fmt::format("negative extent in {}", what));
    if (d.c0 > 0 && n > (int64_t{1} << 40) / d.c0)
      c_.fail_at(line, col, fmt::format("{} is too large", what));
    n *= d.c0 ? d.c0 : 1;
  }
  return v;
}

int KernelParser::operand(int id) {
  c_.skip_spaces();
  int line = c_.line(), col = c_.column();
  std::string name = c_.ssa_name("an operand '%N'");
  if (name.find_first_not_of("0123456789") != std::string::npos || name.size() > 9 ||
      std::stoi(name) >= id)
    c_.fail_at(line, col,
               fmt::format("expected an earlier value (%0..%{}), got '%{}'", id - 1, name));
  return std::stoi(name);
}

void KernelParser::parse_args(Kernel& k) {
  c_.expect('(', "'(' opening the arguments");
  if (c_.accept(')')) return;
  do {
    c_.skip_spaces();
    if (c_.peek() == 'p') {
      int64_t n = numbered('p', fmt::format("parameter p{}", k.params.size()));
      if (n != static_cast<int64_t>(k.params.size()))
        c_.fail_expected(fmt::format("parameter p{}", k.params.size()));
      c_.expect(':', "':' after the parameter name");
      k.params.push_back(c_.dtype("the parameter's dtype"));
      continue;
    }
    if (!k.params.empty())
      c_.fail_expected(fmt::format("parameter p{} (buffers come first)", k.params.size()));
    int64_t n = numbered('a', fmt::format("argument a{}", k.args.size()));
    if (n != static_cast<int64_t>(k.args.size()))
      c_.fail_expected(fmt::format("argument a{}", k.args.size()));
    c_.expect(':', "':' after the argument name");
    KArg a;
    a.dtype = c_.dtype("the argument's dtype");
    c_.expect('[', "'[' before the element count");
    c_.skip_spaces();
    int line = c_.line(), col = c_.column();
    a.numel = sym_int("the element count");
    if (!a.numel.symbolic() && a.numel.c0 < 0) c_.fail_expected("a non-negative element count");
    if (!a.numel.symbolic() && !shape_fits({a.numel.c0}, dtype_size(a.dtype)))
      c_.fail_at(line, col,
                 fmt::format("element count {} of {} is too large (expected at most 2^62 bytes)",
                             a.numel.c0, dtype_name(a.dtype)));
    c_.expect(']', "']' after the element count");
    a.output = c_.accept("out");
    k.args.push_back(a);
  } while (c_.accept(','));
  c_.expect(')', "',' or ')' after an argument");
}

KInst KernelParser::parse_inst(const Kernel& k, int id) {
  c_.skip_spaces();
  int op_line = c_.line(), op_col = c_.column();
  std::string m = c_.word("an instruction (const, index, param, sym, rindex, load or an op)");
  KInst in{};
  in.a = in.b = in.c = -1;
  in.stage = -1;
  std::string value_text;
  int value_col = 0;
  if (m == "const") {
    in.op = Op::Const;
    c_.skip_spaces();
    value_col = c_.column();
    value_text = c_.scalar("the literal");
  } else if (m == "index") {
    in.op = Op::LoopIndex;
    in.imm = c_.integer("the loop axis");
  } else if (m == "param") {
    in.op = Op::Param;
    in.imm = numbered('p', "a parameter pN");
  } else if (m == "sym") {
    in.op = Op::Sym;
    in.sym = sym_int("the sym's polynomial");
    if (c_.accept('/')) { // a reciprocal: numerator/(polynomial)
      if (in.sym.symbolic()) c_.fail_expected("an integer numerator before '/'");
      in.value.f = static_cast<double>(in.sym.c0);
      c_.expect('(', "'(' before the denominator");
      in.sym = sym_int("the sym's denominator");
      c_.expect(')', "')' after the denominator");
    }
  } else if (m == "rindex") {
    in.op = Op::ReduceIndex;
    c_.skip_spaces();
    int l = c_.line(), col = c_.column();
    std::string w = c_.word("stage.axis");
    size_t dot = w.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == w.size() || w.size() > 12 ||
        w.find_first_not_of("0123456789.") != std::string::npos ||
        w.find('.', dot + 1) != std::string::npos)
      c_.fail_at(l, col, fmt::format("expected stage.axis (e.g. 0.1), got '{}'", w));
    // At most 10 digits each: from_chars, as stoi would throw std::out_of_range past INT_MAX.
    auto part = [&](size_t from, size_t to, auto& out) {
      if (std::from_chars(w.data() + from, w.data() + to, out).ec != std::errc())
        c_.fail_at(l, col, fmt::format("stage.axis '{}' is out of range", w));
    };
    part(0, dot, in.stage);
    part(dot + 1, w.size(), in.imm);
  } else if (m == "load") {
    in.op = Op::Load;
    in.imm = numbered('a', "a buffer argument aN");
    c_.expect('[', "'[' before the load index");
    in.a = operand(id);
    c_.expect(']', "']' after the load index");
    if (c_.accept(std::string_view("if"))) in.b = operand(id);
  } else {
    if (!parse_op(m, in.op) || !(is_elementwise(in.op) || is_stage_reduce(in.op) ||
                                 in.op == Op::FloorDiv || in.op == Op::Mod))
      c_.fail_at(op_line, op_col, fmt::format("expected a scalar op, got '{}'", m));
    // argmax/argmin reduce (value, index) pairs.
    bool arg = in.op == Op::ArgMax || in.op == Op::ArgMin;
    int arity = arg || in.op == Op::FloorDiv || in.op == Op::Mod || in.op == Op::SoftmaxSum ? 2
                : is_reduce(in.op)                                                          ? 1
                                   : op_arity(in.op);
    int* slots[] = {&in.a, &in.b, &in.c};
    for (int i = 0; i < arity; ++i) {
      if (i) c_.expect(',', fmt::format("',' ({} takes {} operands)", m, arity));
      *slots[i] = operand(id);
    }
    if (is_stage_reduce(in.op)) {
      c_.expect('@', "'@stage' after a reduction's operand");
      in.stage = static_cast<int>(c_.integer("the reduction's stage"));
    }
  }
  c_.expect(':', "':' before the result dtype");
  in.dtype = c_.dtype("the result dtype");
  if (in.op == Op::Const && !parse_scalar(value_text, in.dtype, in.value))
    c_.fail_at(op_line, value_col,
               fmt::format("expected a {} literal, got '{}'", dtype_name(in.dtype), value_text));
  check_types(k, in, op_line);
  return in;
}

// The backends trust operand dtypes; hand-written text must not reach them inconsistent.
void KernelParser::check_types(const Kernel& k, const KInst& in, int line) {
  auto t = [&](int i) { return k.insts[i].dtype; };
  std::string err;
  if ((in.op == Op::LoopIndex || in.op == Op::ReduceIndex) && in.dtype != DType::I64)
    err = "loop indices are i64";
  else if (in.op == Op::Load && t(in.a) != DType::I64)
    err = "load indices are i64";
  else if (in.op == Op::Load && in.b >= 0 && t(in.b) != DType::Bool)
    err = "load masks are bool";
  else if (in.op == Op::FloorDiv || in.op == Op::Mod) {
    if (t(in.a) != DType::I64 || t(in.b) != DType::I64 || in.dtype != DType::I64)
      err = "index arithmetic is i64";
  } else if (op_category(in.op) == OpCategory::Unary && in.op != Op::Cast &&
             in.op != Op::LogicalNot) {
    if (t(in.a) != in.dtype) err = "unary op changes dtype";
  } else if (in.op == Op::LogicalNot && in.dtype != DType::Bool)
    err = "logical_not gives bool";
  else if (op_category(in.op) == OpCategory::Binary) {
    bool to_bool = is_comparison(in.op) || in.op == Op::LogicalAnd || in.op == Op::LogicalOr;
    if (t(in.a) != t(in.b))
      err = "binary operands differ in dtype";
    else if (to_bool ? in.dtype != DType::Bool : in.dtype != t(in.a))
      err = "wrong result dtype";
  } else if (in.op == Op::Where) {
    if (t(in.a) != DType::Bool || t(in.b) != in.dtype || t(in.c) != in.dtype)
      err = "where operand dtypes";
  } else if (in.op == Op::SoftmaxSum) {
    if (!is_float(in.dtype) || t(in.a) != in.dtype || t(in.b) != in.dtype)
      err = "softmax_sum takes and gives one float dtype";
  } else if (is_reduce(in.op)) {
    bool arg = in.op == Op::ArgMax || in.op == Op::ArgMin;
    if (arg ? in.dtype != DType::I64 || t(in.b) != DType::I64 : in.dtype != t(in.a))
      err = "reduction result dtype";
  }
  if (!err.empty()) c_.fail_at(line, 1, fmt::format("malformed {}: {}", op_name(in.op), err));
}

Kernel KernelParser::parse_one() {
  int kline = c_.line();
  c_.expect("kernel", "'kernel'");
  Kernel k;
  k.name = c_.word("the kernel name");
  parse_args(k);
  c_.end_line("the kernel signature");
  c_.skip_blank_lines();
  c_.expect("domain", "'domain'");
  k.domain = sym_list("the domain");
  c_.end_line("the domain");
  for (c_.skip_blank_lines(); c_.accept("stage"); c_.skip_blank_lines()) {
    int64_t n = c_.integer("the stage number");
    if (n != static_cast<int64_t>(k.stages.size()))
      c_.fail_expected(fmt::format("stage {}", k.stages.size()));
    k.stages.push_back(sym_list("the stage's extents"));
    c_.end_line("the stage");
  }
  for (c_.skip_blank_lines(); !c_.at_end() && c_.peek() == '%'; c_.skip_blank_lines()) {
    int id = static_cast<int>(k.insts.size());
    int l = c_.line(), col = c_.column();
    std::string name = c_.ssa_name("an instruction");
    if (name != std::to_string(id))
      c_.fail_at(
          l, col,
          fmt::format("expected %{} (instructions are numbered in order), got '%{}'", id, name));
    c_.expect('=', "'='");
    k.insts.push_back(parse_inst(k, id));
    c_.end_line("the instruction");
  }
  int n = static_cast<int>(k.insts.size());
  for (c_.skip_blank_lines(); c_.accept("store"); c_.skip_blank_lines()) {
    KStore st;
    st.arg = static_cast<int>(numbered('a', "a buffer argument aN"));
    c_.expect('[', "'[' before the store index");
    st.index = operand(n);
    c_.expect(']', "']' after the store index");
    c_.expect('=', "'=' in the store");
    st.value = operand(n);
    c_.end_line("the store");
    k.stores.push_back(st);
  }
  if (std::string err = verify_kernel(k); !err.empty())
    c_.fail_at(kline, 1, fmt::format("malformed kernel {}: {}", k.name, err));
  return k;
}

std::vector<Kernel> KernelParser::run() {
  std::vector<Kernel> ks;
  for (c_.skip_blank_lines(); !c_.at_end(); c_.skip_blank_lines()) ks.push_back(parse_one());
  if (ks.empty()) c_.fail_expected("'kernel'");
  return ks;
}

} // namespace

std::vector<Kernel> parse_kernels(std::string_view text, std::string_view source_name) {
  return KernelParser(text, source_name).run();
}

Kernel parse_kernel(std::string_view text, std::string_view source_name) {
  auto ks = parse_kernels(text, source_name);
  if (ks.size() != 1) fail("parse", "{}: expected one kernel, got {}", source_name, ks.size());
  return ks.front();
}

} // namespace kiln
