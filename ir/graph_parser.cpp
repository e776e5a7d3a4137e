#include "ir/graph_parser.h"

#include "ir/error.h"
#include "ir/text_cursor.h"
#include "ir/verifier.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <unordered_map>

namespace kiln {
namespace {

// Anonymous mapped memory: the kernel zero-fills a page when it is first touched, so a parsed
// buffer costs no time or memory until it is read (kiln-opt never reads them).
struct MappedStorage : Storage {
  size_t mapped = 0;
  ~MappedStorage() override {
    if (data) ::munmap(data, mapped);
  }
};

// Node::label is a plain pointer that outlives any parse: intern the texts for the process.
const char* intern(const std::string& s) {
  static std::mutex mu;
  static std::set<std::string> pool;
  std::lock_guard<std::mutex> lock(mu);
  return pool.insert(s).first->c_str();
}

// The raw `{key=value, ...}` of a line, each value's text and position, read before the dtype
// that gives literals their meaning is known.
struct RawAttr {
  struct Item {
    std::string key, text;
    std::vector<int64_t> list;
    bool is_list = false;
    int line = 0, col = 0;
  };
  std::vector<Item> items;
  int line = 0, col = 0;
  bool present = false;
};

RawAttr read_attr(TextCursor& c) {
  RawAttr a;
  c.skip_spaces();
  a.line = c.line(), a.col = c.column();
  if (!c.accept('{')) return a;
  a.present = true;
  do {
    RawAttr::Item it;
    c.skip_spaces();
    it.line = c.line(), it.col = c.column();
    it.key = c.word("an attribute name (value, param, axes, perm, start, step, before)");
    if (it.key != "param") {
      c.expect('=', fmt::format("'=' after attribute '{}'", it.key));
      c.skip_spaces();
      it.line = c.line(), it.col = c.column();
      if (c.peek() == '[') {
        it.is_list = true;
        it.list = c.int_list(fmt::format("attribute '{}'", it.key));
      } else {
        it.text = c.scalar(fmt::format("a value for attribute '{}'", it.key));
      }
    }
    a.items.push_back(std::move(it));
  } while (c.accept(','));
  c.expect('}', "',' or '}' in the attribute");
  return a;
}

class GraphParser {
public:
  GraphParser(std::string_view text, const GraphParseOptions& o)
      : c_(text, o.source_name), opts_(o) {}
  ParsedGraph run();

private:
  void parse_node();
  void parse_return();
  Attr build_attr(Op op, const RawAttr& raw, DType value_type);
  const RawAttr::Item* find(const RawAttr& raw, std::string_view key, bool list, bool required);

  TextCursor c_;
  const GraphParseOptions& opts_;
  std::unordered_map<std::string, NodePtr> names_;
  ParsedGraph out_;
  bool returned_ = false;
};

const RawAttr::Item* GraphParser::find(const RawAttr& raw, std::string_view key, bool list,
                                       bool required) {
  for (auto& it : raw.items)
    if (it.key == key) {
      if (it.is_list != list)
        c_.fail_at(it.line, it.col,
                   fmt::format("expected {} for attribute '{}'", list ? "a list" : "a value", key));
      return &it;
    }
  if (required) c_.fail_at(raw.line, raw.col, fmt::format("expected attribute '{}'", key));
  return nullptr;
}

Attr GraphParser::build_attr(Op op, const RawAttr& raw, DType value_type) {
  std::vector<std::string_view> allowed;
  Attr attr = NoAttr{};
  auto scalar = [&](const RawAttr::Item* it) {
    Scalar s;
    if (!parse_scalar(it->text, value_type, s))
      c_.fail_at(it->line, it->col,
                 fmt::format("expected a {} literal, got '{}'", dtype_name(value_type), it->text));
    return s;
  };
  if (op == Op::Const) {
    allowed = {"value", "param"};
    attr = ConstAttr{scalar(find(raw, "value", false, true)),
                     find(raw, "param", false, false) != nullptr};
  } else if (is_reduce(op)) {
    allowed = {"axes"};
    auto& l = find(raw, "axes", true, true)->list;
    attr = AxesAttr{std::vector<int>(l.begin(), l.end())};
  } else if (op == Op::Permute) {
    allowed = {"perm"};
    auto& l = find(raw, "perm", true, true)->list;
    attr = PermuteAttr{std::vector<int>(l.begin(), l.end())};
  } else if (op == Op::Slice) {
    allowed = {"start", "step"};
    attr = SliceAttr{find(raw, "start", true, true)->list, find(raw, "step", true, true)->list};
  } else if (op == Op::Pad) {
    allowed = {"before", "value"};
    attr = PadAttr{find(raw, "before", true, true)->list, scalar(find(raw, "value", false, true))};
  } else if (raw.present) {
    c_.fail_at(raw.line, raw.col,
               fmt::format("expected ':' ({} takes no attributes)", op_name(op)));
  }
  for (auto& it : raw.items)
    if (std::find(allowed.begin(), allowed.end(), it.key) == allowed.end())
      c_.fail_at(it.line, it.col,
                 fmt::format("unexpected attribute '{}' for {}", it.key, op_name(op)));
  return attr;
}

void GraphParser::parse_node() {
  int line = c_.line();
  std::string name = c_.ssa_name("'%name = ...' or 'return'");
  if (names_.count(name)) c_.fail_at(line, 1, fmt::format("%{} is defined twice", name));
  c_.expect('=', "'=' after the value name");
  c_.skip_spaces();
  int op_line = c_.line(), op_col = c_.column();
  std::string mnemonic = c_.word("an op name");
  Op op;
  if (!parse_op(mnemonic, op) || op_category(op) == OpCategory::Kernel)
    c_.fail_at(op_line, op_col, fmt::format("expected a graph-IR op, got '{}'", mnemonic));
  std::vector<NodePtr> inputs;
  c_.skip_spaces();
  if (c_.peek() == '%') {
    do {
      c_.skip_spaces();
      int l = c_.line(), col = c_.column();
      std::string in = c_.ssa_name("an input value");
      auto it = names_.find(in);
      if (it == names_.end()) c_.fail_at(l, col, fmt::format("use of undefined value %{}", in));
      inputs.push_back(it->second);
    } while (c_.accept(','));
  }
  int arity = op_arity(op);
  if (arity >= 0 && static_cast<int>(inputs.size()) != arity)
    c_.fail_at(op_line, op_col,
               fmt::format("expected {} input{} for {}, got {}", arity, arity == 1 ? "" : "s",
                           mnemonic, inputs.size()));
  RawAttr raw = read_attr(c_);
  c_.expect(':', "':' before the type");
  DType dtype = c_.dtype("a dtype");
  int marked = -1;
  Shape shape = c_.shape("the shape", &marked);
  DType value_type = op == Op::Pad ? inputs[0]->dtype : dtype;
  Attr attr = build_attr(op, raw, value_type);
  std::string comment = c_.end_line("the type");

  NodePtr n = make_node(op, dtype, std::move(shape), std::move(inputs), std::move(attr),
                        std::source_location{});
  if (!comment.empty()) n->label = intern(comment);
  n->dynamic_axis = marked;
  if (op == Op::Buffer)
    n->storage = opts_.make_storage ? opts_.make_storage(n->dtype, n->shape)
                                    : zeroed_host_storage(n->dtype, n->shape);
  if (opts_.verify) {
    std::string err = verify_node(*n);
    if (!err.empty()) c_.fail_at(line, 1, fmt::format("malformed {}: {}", mnemonic, err));
  }
  names_[name] = n;
  out_.nodes.push_back(std::move(n));
}

void GraphParser::parse_return() {
  do {
    c_.skip_spaces();
    int l = c_.line(), col = c_.column();
    std::string in = c_.ssa_name("a returned value");
    auto it = names_.find(in);
    if (it == names_.end()) c_.fail_at(l, col, fmt::format("return of undefined value %{}", in));
    out_.outputs.push_back(it->second);
  } while (c_.accept(','));
  c_.end_line("the returned values");
  returned_ = true;
}

ParsedGraph GraphParser::run() {
  for (c_.skip_blank_lines(); !c_.at_end(); c_.skip_blank_lines()) {
    if (returned_) c_.fail_expected("end of input after 'return'");
    if (c_.accept("return"))
      parse_return();
    else
      parse_node();
  }
  if (!returned_) c_.fail_expected("'return' ending the graph");
  return std::move(out_);
}

} // namespace

std::shared_ptr<Storage> zeroed_host_storage(DType t, const Shape& s) {
  if (!shape_fits(s, dtype_size(t))) fail("parse", "buffer {}", shape_problem(s, dtype_size(t)));
  auto st = std::make_shared<MappedStorage>();
  st->bytes = static_cast<size_t>(numel(s)) * dtype_size(t);
  st->mapped = std::max<size_t>(st->bytes, 1); // page-aligned, so also 64-byte aligned
  void* p = ::mmap(nullptr, st->mapped, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    fail("parse", "cannot map {} bytes for a buffer {}{}: {}", st->bytes, dtype_name(t),
         shape_str(s), std::strerror(errno));
  st->data = p;
  return st;
}

std::vector<Node*> ParsedGraph::roots() const {
  std::vector<Node*> r;
  for (auto& o : outputs) r.push_back(o.get());
  return r;
}

ParsedGraph parse_graph(std::string_view text, const GraphParseOptions& opts) {
  return GraphParser(text, opts).run();
}

} // namespace kiln
