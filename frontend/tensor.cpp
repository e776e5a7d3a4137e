// Tensor handles: user reference counting, realize(), reading values back.
#include "kiln/tensor.h"

#include "runtime/interpreter.h"
#include "runtime/realize.h"
#include "runtime/transfer.h"
#include "trace.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <new>

namespace kiln {

Tensor::Tensor(NodePtr node) : impl_(std::make_shared<TensorImpl>()) {
  impl_->node.reset(std::move(node));
}

const Tensor& Tensor::realize() const {
  if (!defined()) throw Error("[realize] called on an undefined tensor");
  realize_nodes({node().get()});
  return *this;
}

void realize(const std::vector<Tensor>& tensors) {
  std::vector<Node*> roots;
  for (auto& t : tensors) {
    if (!t.defined()) throw Error("[realize] called on an undefined tensor");
    roots.push_back(t.node().get());
  }
  realize_nodes(roots);
}

void mark_dynamic(const Tensor& t, int64_t axis, Loc loc) {
  if (!t.defined()) trace::fail_at(loc, "mark_dynamic", "called on an undefined tensor");
  int64_t rank = t.dim();
  if (axis < -rank || axis >= rank)
    trace::fail_at(loc, "mark_dynamic", "axis {} is out of range for {} (expected {} <= axis < {})",
                   axis, trace::describe(t), -rank, rank);
  t.node()->dynamic_axis = static_cast<int>(axis < 0 ? axis + rank : axis);
}

Tensor reference(const Tensor& t) {
  if (!t.defined()) throw Error("[reference] called on an undefined tensor");
  auto out = interpret({t.node().get()}, [](std::shared_ptr<Storage> s) {
    return to_device(std::move(s), Device::cpu());
  });
  return Tensor(make_buffer_node(t.dtype(), t.shape(), out[0], t.node()->loc, t.device()));
}

namespace {

// Whether static_cast<T>(v) is defined: a float to an integer type must truncate to a value the
// type holds (NaN and infinities do not).
template <typename T, typename U> bool casts_to(U v) {
  if constexpr (std::is_floating_point_v<U> && std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    double t = std::trunc(static_cast<double>(v));
    return t >= static_cast<double>(std::numeric_limits<T>::min()) &&
           t < static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
  }
  return true;
}

// t's values as T, like a C++ cast; a value the cast is undefined for is a kiln::Error, as
// LibTorch's item<T>() raises for a value T cannot hold (NaN read as an i64 was INT64_MIN).
template <typename T>
std::vector<T> values_as(const Tensor& t, const char* op, std::optional<Loc> loc) {
  auto storage = trace::host_storage(t);
  std::vector<T> out;
  try {
    out.resize(t.numel());
  } catch (const std::bad_alloc&) { // only kiln::Error leaves the API
    fail(op, "cannot allocate {} values of {} bytes for {}", t.numel(), sizeof(T),
         trace::describe(t));
  }
  const char* p = static_cast<const char*>(storage->data);
  dispatch_dtype(t.dtype(), [&](auto x) {
    using U = decltype(x);
    for (int64_t i = 0; i < t.numel(); ++i) {
      U v;
      std::memcpy(&v, p + i * sizeof(U), sizeof(U));
      if (!casts_to<T>(v)) {
        std::string what = fmt::format(
            "{} holds {} at position {}, which {} cannot hold (expected a finite value from {} to "
            "{})",
            trace::describe(t), v, i, dtype_name(dtype_of<T>()), std::numeric_limits<T>::min(),
            std::numeric_limits<T>::max());
        if (loc) trace::fail_at(*loc, op, "{}", what);
        fail(op, "{}", what);
      }
      out[i] = static_cast<T>(v);
    }
  });
  return out;
}

} // namespace

template <typename T> std::vector<T> Tensor::to_vector() const {
  return values_as<T>(*this, "to_vector", std::nullopt);
}

template <typename T> T Tensor::item(Loc loc) const {
  if (!defined()) trace::fail_at(loc, "item", "called on an undefined tensor");
  if (numel() != 1)
    trace::fail_at(loc, "item", "tensor {} has {} elements (expected exactly 1)",
                   trace::describe(*this), numel());
  return values_as<T>(*this, "item", loc)[0];
}

#define KILN_INSTANTIATE(T)                                                                        \
  template std::vector<T> Tensor::to_vector<T>() const;                                            \
  template T Tensor::item<T>(Loc) const;
KILN_FOR_EACH_CPP_TYPE(KILN_INSTANTIATE)
#undef KILN_INSTANTIATE

} // namespace kiln
