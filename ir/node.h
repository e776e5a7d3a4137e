// Graph IR: a small node (op, dtype, static shape, inputs, typed attribute) shared by handles.
#pragma once
#include "ir/dtype.h"
#include "ir/op.h"
#include "ir/shape.h"
#include "ir/storage.h"

#include <atomic>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kiln {

// A literal of any dtype: floats live in f, integers and bools in i, as the dtype stores them
// (a u8 is 0..255).
struct Scalar {
  double f = 0;
  int64_t i = 0;
  static Scalar of(DType t, double v);
  double as_double(DType t) const { return is_float(t) ? f : static_cast<double>(i); }
  bool operator==(const Scalar&) const = default;
};

struct NoAttr {
  bool operator==(const NoAttr&) const = default;
};
// A literal. A parameter's value is not part of any hash or cache key: it is passed to kernels
// at run time, so a loop over changing scalars (a learning-rate schedule) compiles once.
struct ConstAttr {
  Scalar value;
  bool param = false;
  bool operator==(const ConstAttr&) const = default;
};
struct AxesAttr { // reductions
  std::vector<int> axes;
  bool operator==(const AxesAttr&) const = default;
};
struct PermuteAttr {
  std::vector<int> perm;
  bool operator==(const PermuteAttr&) const = default;
};
struct SliceAttr { // out[i] = in[start + i * step] per dim; step may be negative
  std::vector<int64_t> start, step;
  bool operator==(const SliceAttr&) const = default;
};
struct PadAttr { // out[i] = in[i - before] where in range, else value
  std::vector<int64_t> before;
  Scalar value;
  bool operator==(const PadAttr&) const = default;
};
using Attr = std::variant<NoAttr, ConstAttr, AxesAttr, PermuteAttr, SliceAttr, PadAttr>;

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node : std::enable_shared_from_this<Node> {
  Op op;
  DType dtype;
  Shape shape;
  std::vector<NodePtr> inputs;
  Attr attr;
  std::source_location loc;    // the user's call site; never hashed
  const char* label = nullptr; // frontend op that created it (e.g. "gelu"); never hashed
  uint64_t hash = 0;           // structural hash: op, dtype, shape, attr, device, input hashes
  // Where it is computed and its value lives. A node over literals alone (a Const, full()) is
  // portable: it is computed inside whatever kernel reads it, so it may meet a tensor of any
  // device, which then decides; every other operand of a node must be on one device (make_node).
  Device device;
  bool portable = false;

  // Runtime state: the realized value, set once. A realized node acts as a leaf.
  std::shared_ptr<Storage> storage;
  // Number of live user Tensor handles; such nodes are program outputs when computed.
  std::atomic<int> user_refs{0};
  // Longest path of unrealized nodes from this one down to realized leaves (1 for a node whose
  // inputs are all realized), as of its creation: the frontend bounds it (frontend/trace.cpp).
  int64_t depth = 0;
  // Autograd: gradients flow to this node (set on leaves by the user, inherited by results).
  bool requires_grad = false;
  // backward() ran from this node: once realized it lets go of its graph like a node without
  // gradients, as PyTorch frees a graph after backward (a held loss keeps no activations).
  bool backward_ran = false;
  // backward() ran through this unrealized node (between its root and the leaves): once
  // realized it lets go of its graph too, so a lazily accumulated metric that reads a model's
  // output keeps no parameters of earlier steps.
  bool backward_passed = false;
  // kiln::mark_dynamic: this axis's size may change between realizations, so a graph reading
  // the node compiles with it symbolic from its first size (runtime/size_family.h); -1: none.
  int dynamic_axis = -1;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases inputs with a loop, not recursion: a node can own a chain of millions.
  ~Node();

  bool realized() const { return storage != nullptr; }
  int64_t numel() const { return kiln::numel(shape); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename A> const A& get() const { return std::get<A>(attr); }
};

// The node's device is its inputs' (those not portable must agree, else a kiln::Error naming the
// op, both devices and loc); over portable inputs alone it is the first one's, and a leaf's is
// `device`.
NodePtr make_node(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attr attr = {},
                  std::source_location loc = std::source_location::current(),
                  Device device = Device::cpu());
// A realized leaf; on `device` (default: where the storage is). A node on a GPU may hold host
// storage: the runtime copies it to the device when a program there first reads it.
NodePtr make_buffer_node(DType dtype, Shape shape, std::shared_ptr<Storage> storage,
                         std::source_location loc = std::source_location::current(),
                         std::optional<Device> device = {});
// x copied onto device `d` (an Op::Copy whose input lives elsewhere, never portable): realize
// computes x on its own device first and moves the value (runtime/realize.cpp); the gradient
// of a transfer is the transfer back.
NodePtr make_transfer_node(NodePtr x, Device d,
                           std::source_location loc = std::source_location::current());
inline bool is_transfer(const Node& n) {
  return n.op == Op::Copy && n.inputs.size() == 1 && n.inputs[0]->device != n.device;
}
// kiln::Error when the inputs that are not portable live on different devices, naming `op`.
void check_devices(const std::vector<NodePtr>& inputs, std::string_view op,
                   std::source_location loc);

// The attribute's hash; a parameter's value is never part of it. Without sizes, it leaves out
// what may follow a size: slice starts, pad widths and the values of literals (a mean's 1/n).
// Graphs equal but for such numbers and their shapes have one structure (runtime/size_family.h).
uint64_t hash_attr(const Attr& a, bool sizes = true);
// 64-bit mix (splitmix-style) so that order and every bit matter. Inline: graph and program
// keys hash millions of words.
inline uint64_t hash_combine(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

class NodeIndex;
// Nodes reachable from roots, inputs before users. Realized nodes are leaves when stop_at_realized.
// `seen`, when given, receives the walk's numbering of the nodes (first-seen order, a function of
// the graph's structure alone, like the order itself).
std::vector<Node*> topo_order(const std::vector<Node*>& roots, bool stop_at_realized,
                              NodeIndex* seen = nullptr);

} // namespace kiln
