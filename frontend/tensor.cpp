// Tensor handles: user reference counting, realize(), reading values back.
#include "kiln/tensor.h"

#include "runtime/interpreter.h"
#include "runtime/realize.h"
#include "runtime/transfer.h"
#include "trace.h"

#include <cstring>
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

template <typename T> std::vector<T> Tensor::to_vector() const {
  auto storage = trace::host_storage(*this);
  std::vector<T> out;
  try {
    out.resize(numel());
  } catch (const std::bad_alloc&) { // only kiln::Error leaves the API
    fail("to_vector", "cannot allocate {} values of {} bytes for {}", numel(), sizeof(T),
         trace::describe(*this));
  }
  const char* p = static_cast<const char*>(storage->data);
  dispatch_dtype(dtype(), [&](auto x) {
    using U = decltype(x);
    for (int64_t i = 0; i < numel(); ++i) {
      U v;
      std::memcpy(&v, p + i * sizeof(U), sizeof(U));
      out[i] = static_cast<T>(v);
    }
  });
  return out;
}

template <typename T> T Tensor::item(Loc loc) const {
  if (!defined()) trace::fail_at(loc, "item", "called on an undefined tensor");
  if (numel() != 1)
    trace::fail_at(loc, "item", "tensor {} has {} elements (expected exactly 1)",
                   trace::describe(*this), numel());
  return to_vector<T>()[0];
}

#define KILN_INSTANTIATE(T)                                                                        \
  template std::vector<T> Tensor::to_vector<T>() const;                                            \
  template T Tensor::item<T>(Loc) const;
KILN_FOR_EACH_CPP_TYPE(KILN_INSTANTIATE)
#undef KILN_INSTANTIATE

} // namespace kiln
