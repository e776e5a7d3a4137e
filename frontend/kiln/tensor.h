// kiln::Tensor: a cheap handle to a lazy graph node. Ops build the graph; realize() runs it.
#pragma once
#include "ir/error.h"
#include "ir/node.h"

#include <concepts>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <source_location>
#include <string>
#include <tuple>
#include <vector>

namespace kiln {

using Loc = std::source_location;

// A node reference held on a user's behalf: realize() makes such nodes program outputs, so
// what a user can observe is never recomputed.
class HeldNode {
public:
  HeldNode() = default;
  explicit HeldNode(NodePtr n) : n_(std::move(n)) { acquire(); }
  HeldNode(const HeldNode& o) : HeldNode(o.n_) {}
  HeldNode& operator=(const HeldNode& o) {
    reset(o.n_);
    return *this;
  }
  ~HeldNode() { release(); }
  const NodePtr& get() const { return n_; }
  void reset(NodePtr n = nullptr) {
    release();
    n_ = std::move(n);
    acquire();
  }

private:
  void acquire() {
    if (n_) ++n_->user_refs;
  }
  void release() {
    if (n_) --n_->user_refs;
  }
  NodePtr n_;
};

// What every copy of a Tensor handle shares, like a PyTorch tensor object: the current value
// (replaced by assign(), as optimizers do) and the accumulated gradient.
struct TensorImpl {
  HeldNode node;
  HeldNode grad;
};

class Tensor {
public:
  Tensor() = default;
  explicit Tensor(NodePtr node);

  bool defined() const { return impl_ && impl_->node.get(); }
  // The accessors below throw kiln::Error on an undefined (default-constructed) tensor.
  const NodePtr& node() const { return checked_node("node"); }
  DType dtype() const { return checked_node("dtype")->dtype; }
  const Shape& shape() const { return checked_node("shape")->shape; }
  int64_t dim() const { return static_cast<int64_t>(checked_node("dim")->shape.size()); }
  int64_t size(int64_t axis, Loc loc = Loc::current()) const;
  int64_t numel() const { return checked_node("numel")->numel(); }
  bool is_realized() const { return checked_node("is_realized")->realized(); }
  // Where it is computed and its value lives (creation ops take it; ops keep their inputs').
  Device device() const { return checked_node("device")->device; }
  // Whether this and the other handle share one tensor (copies of a handle do).
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Autograd: backward() is a graph pass that appends gradient nodes to the lazy graph, so the
  // forward, backward and optimizer update of a step compile as one program.
  bool requires_grad() const { return defined() && node()->requires_grad; }
  Tensor& requires_grad_(bool on = true, Loc loc = Loc::current()); // on leaves (realized tensors)
  Tensor grad() const; // the accumulated gradient; undefined before a backward() reached it
  void zero_grad();    // forgets the accumulated gradient
  // Gradients of this tensor (a scalar, or given grad_output of its shape) w.r.t. every leaf
  // that requires grad, added to their grad().
  void backward(const Tensor& grad_output = Tensor(), Loc loc = Loc::current()) const;
  Tensor detach(Loc loc = Loc::current()) const; // same values, no gradient flows through
  // Replaces the value every copy of this handle sees (an in-place update); shape and dtype stay.
  void assign(const Tensor& value, Loc loc = Loc::current());

  // Elementwise (float-only ops promote integer inputs to f32, like PyTorch).
  Tensor neg(Loc loc = Loc::current()) const;
  Tensor abs(Loc loc = Loc::current()) const;
  Tensor exp(Loc loc = Loc::current()) const;
  Tensor log(Loc loc = Loc::current()) const;
  Tensor log1p(Loc loc = Loc::current()) const;
  Tensor expm1(Loc loc = Loc::current()) const;
  Tensor sqrt(Loc loc = Loc::current()) const;
  Tensor rsqrt(Loc loc = Loc::current()) const;
  Tensor sin(Loc loc = Loc::current()) const;
  Tensor cos(Loc loc = Loc::current()) const;
  Tensor tanh(Loc loc = Loc::current()) const;
  Tensor sigmoid(Loc loc = Loc::current()) const;
  Tensor erf(Loc loc = Loc::current()) const;
  Tensor relu(Loc loc = Loc::current()) const;
  // approximate: "none" (erf form) or "tanh".
  Tensor gelu(std::string_view approximate = "none", Loc loc = Loc::current()) const;
  Tensor silu(Loc loc = Loc::current()) const;
  Tensor softplus(Loc loc = Loc::current()) const;
  Tensor floor(Loc loc = Loc::current()) const;
  Tensor ceil(Loc loc = Loc::current()) const;
  Tensor round(Loc loc = Loc::current()) const;
  Tensor sign(Loc loc = Loc::current()) const;
  Tensor reciprocal(Loc loc = Loc::current()) const;
  Tensor logical_not(Loc loc = Loc::current()) const;
  Tensor to(DType dtype, Loc loc = Loc::current()) const;
  // The same values on another device (this tensor when it is there already), realized; no
  // gradient flows through. The copy onto a GPU happens when a program there first reads it, so
  // tracing on a device needs none.
  Tensor to(Device device, Loc loc = Loc::current()) const;

  // Reductions. Empty axes = all axes; negative axes count from the end.
  Tensor sum(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  Tensor mean(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  Tensor max(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  Tensor min(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  Tensor prod(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  // Variance: the squared deviations from the mean summed and divided by count - correction
  // (1: Bessel's, PyTorch's default; NaN where that is not positive); std is its square root.
  Tensor var(std::vector<int64_t> axes = {}, int64_t correction = 1, bool keepdim = false,
             Loc loc = Loc::current()) const;
  Tensor std(std::vector<int64_t> axes = {}, int64_t correction = 1, bool keepdim = false,
             Loc loc = Loc::current()) const;
  // log(sum(exp(x))) computed without overflow (shifted by the max); its gradient is softmax.
  Tensor logsumexp(std::vector<int64_t> axes = {}, bool keepdim = false,
                   Loc loc = Loc::current()) const;
  // Whether every (any) element is nonzero, as bool: true (false) over no elements.
  Tensor all(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  Tensor any(std::vector<int64_t> axes = {}, bool keepdim = false, Loc loc = Loc::current()) const;
  // No axis = index into the flattened tensor.
  Tensor argmax(std::optional<int64_t> axis = {}, bool keepdim = false,
                Loc loc = Loc::current()) const;
  Tensor argmin(std::optional<int64_t> axis = {}, bool keepdim = false,
                Loc loc = Loc::current()) const;
  // Values and indices of the maximum (minimum) along one axis, like LibTorch's
  // `auto [values, indices] = x.max(1)`; the gradient flows to the element at the index. A
  // template so that a braced x.max({1}) still means the axes overload above.
  template <std::integral I>
  std::tuple<Tensor, Tensor> max(I dim, bool keepdim = false, Loc loc = Loc::current()) const {
    return extremum_with_index(true, static_cast<int64_t>(dim), keepdim, loc);
  }
  template <std::integral I>
  std::tuple<Tensor, Tensor> min(I dim, bool keepdim = false, Loc loc = Loc::current()) const {
    return extremum_with_index(false, static_cast<int64_t>(dim), keepdim, loc);
  }

  // Views: lazy index arithmetic, never copies.
  Tensor reshape(Shape shape, Loc loc = Loc::current()) const; // one -1 allowed
  Tensor view(Shape shape, Loc loc = Loc::current()) const {
    return reshape(std::move(shape), loc);
  }
  Tensor permute(std::vector<int64_t> dims, Loc loc = Loc::current()) const;
  Tensor transpose(int64_t a, int64_t b, Loc loc = Loc::current()) const;
  Tensor expand(Shape shape, Loc loc = Loc::current()) const; // -1 keeps a dim
  Tensor squeeze(std::optional<int64_t> axis = {}, Loc loc = Loc::current()) const;
  Tensor unsqueeze(int64_t axis, Loc loc = Loc::current()) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1, Loc loc = Loc::current()) const;
  // NumPy slicing along one axis: start/end may be negative or omitted, step may be negative.
  Tensor slice(int64_t axis, std::optional<int64_t> start, std::optional<int64_t> end,
               int64_t step = 1, Loc loc = Loc::current()) const;
  // Realized tensors are always contiguous; views stay lazy. Returns the same values.
  Tensor contiguous(Loc loc = Loc::current()) const { return *this; }
  Tensor matmul(const Tensor& other, Loc loc = Loc::current()) const;

  // Evaluation.
  const Tensor& realize() const;
  template <typename T> T item(Loc loc = Loc::current()) const;
  template <typename T> std::vector<T> to_vector() const;
  std::string str() const; // like PyTorch: values, then shape and dtype

private:
  friend void set_grad(const Tensor& t, const Tensor& g);
  std::tuple<Tensor, Tensor> extremum_with_index(bool max, int64_t dim, bool keepdim,
                                                 Loc loc) const;
  const NodePtr& checked_node(const char* accessor) const {
    if (!defined()) fail(accessor, "called on an undefined tensor");
    return impl_->node.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

// While alive, new ops record no gradient (like torch.no_grad()).
class NoGradGuard {
public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
  static bool active();

private:
  bool prev_;
};

// A Tensor or a C++ number on either side of a binary op; records the user's call site.
struct Operand {
  Tensor tensor;
  double number = 0;
  int64_t integer = 0; // an integer number, exactly (a double holds only 53 bits)
  int category = -1;   // for numbers: 0 bool, 1 integer, 2 float; -1 = tensor
  Loc loc;
  Operand(const Tensor& t, Loc l = Loc::current()) : tensor(t), loc(l) {}
  template <typename T>
  requires std::is_arithmetic_v<T> Operand(T v, Loc l = Loc::current())
      : number(static_cast<double>(v)),
        integer(std::is_integral_v<T> ? static_cast<int64_t>(v) : 0),
        category(std::is_same_v<T, bool> ? 0
                 : std::is_integral_v<T> ? 1
                                         : 2),
        loc(l) {}
  bool is_tensor() const { return category < 0; }
};

namespace autograd {
// Gradients of the sum of outputs (scalars, or weighted by grad_outputs of their shapes) with
// respect to inputs (any tensors that require grad, not only leaves), like
// torch.autograd.grad: returned, and grad() is left alone. With create_graph they require grad
// themselves (a second derivative); an input no output depends on is an error unless
// allow_unused, which gives an undefined Tensor for it.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool create_graph = false,
                         bool allow_unused = false, Loc loc = Loc::current());
} // namespace autograd

// Binary elementwise ops with NumPy broadcasting and PyTorch type promotion.
Tensor add(const Operand& a, const Operand& b);
Tensor sub(const Operand& a, const Operand& b);
Tensor mul(const Operand& a, const Operand& b);
Tensor div(const Operand& a, const Operand& b); // true division: integers give f32
Tensor pow(const Operand& a, const Operand& b);
Tensor maximum(const Operand& a, const Operand& b);
Tensor minimum(const Operand& a, const Operand& b);
Tensor fmod(const Operand& a, const Operand& b);
// Python's % and //: the remainder has the sign of the divisor, the quotient rounds toward
// -inf (integers and floats). An integer divisor of 0 is a kiln::Error at the call, as in PyTorch
// (the divisor is realized and checked on the host).
Tensor remainder(const Operand& a, const Operand& b);
Tensor floor_divide(const Operand& a, const Operand& b);
Tensor eq(const Operand& a, const Operand& b);
Tensor ne(const Operand& a, const Operand& b);
Tensor lt(const Operand& a, const Operand& b);
Tensor le(const Operand& a, const Operand& b);
Tensor gt(const Operand& a, const Operand& b);
Tensor ge(const Operand& a, const Operand& b);
Tensor logical_and(const Operand& a, const Operand& b);
Tensor logical_or(const Operand& a, const Operand& b);
Tensor where(const Operand& cond, const Operand& a, const Operand& b);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi,
             Loc loc = Loc::current());
// Bool tensors of which elements are NaN, +-inf, or neither (integers: never NaN nor inf).
Tensor isnan(const Tensor& x, Loc loc = Loc::current());
Tensor isinf(const Tensor& x, Loc loc = Loc::current());
Tensor isfinite(const Tensor& x, Loc loc = Loc::current());

inline Tensor operator+(const Operand& a, const Operand& b) { return add(a, b); }
inline Tensor operator-(const Operand& a, const Operand& b) { return sub(a, b); }
inline Tensor operator*(const Operand& a, const Operand& b) { return mul(a, b); }
inline Tensor operator/(const Operand& a, const Operand& b) { return div(a, b); }
inline Tensor operator%(const Operand& a, const Operand& b) { return remainder(a, b); }
inline Tensor operator==(const Operand& a, const Operand& b) { return eq(a, b); }
inline Tensor operator!=(const Operand& a, const Operand& b) { return ne(a, b); }
inline Tensor operator<(const Operand& a, const Operand& b) { return lt(a, b); }
inline Tensor operator<=(const Operand& a, const Operand& b) { return le(a, b); }
inline Tensor operator>(const Operand& a, const Operand& b) { return gt(a, b); }
inline Tensor operator>=(const Operand& a, const Operand& b) { return ge(a, b); }
inline Tensor operator&&(const Operand& a, const Operand& b) { return logical_and(a, b); }
inline Tensor operator||(const Operand& a, const Operand& b) { return logical_or(a, b); }
Tensor operator-(const Operand& a);
Tensor operator!(const Operand& a);

// Movement across several tensors.
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis = 0, Loc loc = Loc::current());
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis = 0, Loc loc = Loc::current());
// x reversed along each of `axes` (a view), like torch.flip.
Tensor flip(const Tensor& x, const std::vector<int64_t>& axes, Loc loc = Loc::current());
// Views of consecutive pieces along an axis, like torch.split (pieces of `size`, the last one
// shorter) and torch.chunk (`chunks` pieces of ceil(n / chunks), fewer when they run out).
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis = 0,
                          Loc loc = Loc::current());
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t axis = 0,
                          Loc loc = Loc::current());
// pads: (before, after) pairs starting from the LAST axis, like torch.nn.functional.pad.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0,
           Loc loc = Loc::current());
Tensor matmul(const Tensor& a, const Tensor& b, Loc loc = Loc::current());

// x with value where mask (bool, broadcast to x's shape) is true; a float value is a kernel
// parameter (a new value does not recompile).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, Loc loc = Loc::current());
// The lower (upper) triangle of the last two axes, like torch.tril (triu): x[..., i, j] where
// j - i <= diagonal (>= diagonal), else 0 (false). tril(ones({T, T}, DType::Bool)) is a causal
// mask: position i sees positions j <= i.
Tensor tril(const Tensor& x, int64_t diagonal = 0, Loc loc = Loc::current());
Tensor triu(const Tensor& x, int64_t diagonal = 0, Loc loc = Loc::current());
// The k largest (smallest) elements along an axis and their indices (i64), like torch.topk;
// sorted from the largest (smallest), ties in index order, NaN largest. The selection is made on
// the host, so it realizes x; values are gathered from x lazily, so gradients flow to x.
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t axis = -1, bool largest = true,
                                Loc loc = Loc::current());
// Indexing along an axis with an i64 or i32 index tensor, PyTorch semantics. Composed from
// primitives (a one-hot comparison with the index selects, a sum reads or accumulates), so
// gradients flow to x (and src) without a rule of their own. An index outside [0, size) is a
// kiln::Error at the call naming it and the range, as in PyTorch (the index is realized and
// checked on the host).
// The slices x[..., index[j], ...] along axis, for a 1-D index.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index, Loc loc = Loc::current());
// out[i][j][k] = x[index[i][j][k]][j][k] for axis 0 (and so on): out has index's shape, which may
// be smaller than x's on the other axes.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index, Loc loc = Loc::current());
// x plus src[i][j][k] added at [index[i][j][k]][j][k] for axis 0 (and so on); index may be smaller
// than src, and than x on the other axes.
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src,
                   Loc loc = Loc::current());

// Realizes several roots as one program.
void realize(const std::vector<Tensor>& tensors);
// Asks that t's size along `axis` may change from one realize to the next (a batch, a sequence
// length): the first graph that reads t compiles its kernels with that size symbolic, and every
// other size of the graph runs them (README "Sizes that change"). Unmarked, kiln makes an axis
// symbolic only when a graph comes back at a second size. Dimensions equal to the size elsewhere
// in the graph follow it (as in TorchDynamo's duck sizing); a kernel compiles concretely where
// the size does not fit it. Marks t (every handle of it); a graph's first marked tensor decides.
void mark_dynamic(const Tensor& t, int64_t axis, Loc loc = Loc::current());
// The reference interpreter's result for t (a new realized tensor); t itself is not realized.
Tensor reference(const Tensor& t);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

} // namespace kiln
