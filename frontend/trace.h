// Frontend-internal helpers shared by the op files: node creation, broadcasting, promotion, axes.
#pragma once
#include "kiln/tensor.h"
#include "passes/autodiff.h"

#include <string>

namespace kiln::trace {

// Tags every node created in its scope with a frontend op name (for dumps and profiles).
class LabelScope {
public:
  explicit LabelScope(const char* label);
  ~LabelScope();

private:
  const char* prev_;
};

// Where new tensors go unless a creation op is told otherwise (KILN_DEVICE).
Device default_device();

// Traces one node: its label, whether gradients flow through it, and the realize at the depth
// bound. A leaf goes on `device`; any other node on its inputs' (kiln::Error, naming the frontend
// op, when they mix devices). The node-level forms (trace_node, broadcast_node, literal_node)
// are for the elementwise ops, traced by the million in loops: they make no Tensor handle (an
// allocation) for an operand nobody holds.
NodePtr trace_node(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, Attr attr, Loc loc,
                   Device device = default_device());
Tensor make(Op op, DType dtype, Shape shape, std::initializer_list<Tensor> inputs, Attr attr,
            Loc loc);
// 0-d literal; a parameter's value is passed to kernels at run time instead of compiled in.
Tensor constant(double value, DType dtype, Loc loc, bool param = false,
                Device device = default_device());
Tensor cast(const Tensor& x, DType dtype, Loc loc); // no-op when equal
Tensor broadcast_to(const Tensor& x, const Shape& shape, const char* op, Loc loc);
NodePtr broadcast_node(NodePtr x, const Shape& shape, const char* op, Loc loc);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op, Loc loc);

// The tensors backward() ran from on this thread since its last call that a user still holds,
// unrealized: an optimizer step computes them in its program (the loss a training loop prints
// comes with the update instead of a second pass over the forward graph).
std::vector<Tensor> take_backward_roots();

// A gradient rule for one node in place of its op's (see passes/autodiff.h): kept while the node
// lives, consulted by backward() and autograd::grad().
void set_custom_grad(const Tensor& t, CustomVjp rule);

// PyTorch result_type over operands: dimensioned tensors, then 0-d tensors, then numbers.
DType result_type(std::initializer_list<const Operand*> ops);
// PyTorch raises rather than wrap a number that an integer dtype cannot hold: `u8_tensor > -1`
// would compare with 255, false everywhere. kiln::Error naming op, the number and the dtype.
void check_number_fits(const Operand& number, DType dtype, std::string_view op);
// A number operand becomes a 0-d constant of the given dtype: a parameter when it comes from
// user code (a learning rate, an integer offset), baked in when a composite op (gelu's 0.5) or
// `bake` asks, or when it is a bool. An integer number that `dtype` cannot hold is a
// kiln::Error naming `op`.
Tensor as_tensor(const Operand& o, DType dtype, std::string_view op, bool bake = false);
NodePtr literal_node(const Operand& o, DType dtype, std::string_view op, bool bake = false);

// "(at file:line)", how errors name the user's call.
inline std::string call_site(Loc loc) {
  return fmt::format("(at {}:{})", loc.file_name(), loc.line());
}

// kiln::Error "[op] message (at file:line)" pointing at the user's call.
template <typename... Args>
[[noreturn]] void fail_at(Loc loc, std::string_view op, fmt::format_string<Args...> f,
                          Args&&... args) {
  throw Error(
      fmt::format("[{}] {} {}", op, fmt::format(f, std::forward<Args>(args)...), call_site(loc)));
}

// Realizes t and returns its value in host memory (a copy when it lives on a GPU).
std::shared_ptr<Storage> host_storage(const Tensor& t);

// kiln::Error when t is undefined (a default-constructed Tensor).
void require(const Tensor& t, std::string_view op, Loc loc);
// Float tensors as they are, integers and bools as f32: for composites defined on reals.
Tensor floating(const Tensor& t, std::string_view op, Loc loc);

// kiln::Error unless every element of the integer tensor `indices` is in [0, count). Realizes it.
void check_indices(const Tensor& indices, int64_t count, std::string_view op, Loc loc);
// kiln::Error when an element of the integer tensor `divisor` is 0. Realizes it.
void check_nonzero_divisor(const Tensor& divisor, std::string_view op, Loc loc);
// Bool one_hot[..., c, ...] = (index[...] == c) for c in [0, classes), the class axis at
// class_axis of the result: how embedding, losses, gather and scatter_add select by index.
Tensor one_hot(const Tensor& index, int64_t classes, int64_t class_axis, Loc loc);

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op, Loc loc);
std::string describe(const Tensor& t); // "f32[2, 3]"

} // namespace kiln::trace
