#include "runtime/interpreter.h"

#include "codegen/host/allocator.h"
#include "ir/error.h"
#include "ir/scalar_eval.h"

#include <cmath>
#include <limits>
#include <unordered_map>

namespace kiln {
namespace {

using V = Scalar; // one element: floats in f, integers and bools in i

std::vector<int64_t> unravel(int64_t k, const Shape& s) {
  std::vector<int64_t> c(s.size());
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
    c[d] = s[d] ? k % s[d] : 0;
    k = s[d] ? k / s[d] : 0;
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const Shape& s) {
  int64_t k = 0;
  for (size_t d = 0; d < s.size(); ++d) k = k * s[d] + c[d];
  return k;
}

class Interpreter {
public:
  explicit Interpreter(const ToHost& to_host) : to_host_(to_host) {}

  std::shared_ptr<Storage> eval(Node* n) {
    if (n->realized()) return on_host(n);
    if (auto it = values_.find(n); it != values_.end()) return it->second;
    auto out = cpu_alloc(n->bytes());
    compute(n, *out);
    values_[n] = out;
    return out;
  }

private:
  std::shared_ptr<Storage> on_host(Node* n) {
    if (n->storage->device == Device::cpu()) return n->storage;
    if (!to_host_)
      fail("interpret", "a leaf lives on {} and no copy to the host was given",
           device_name(n->storage->device));
    std::shared_ptr<Storage>& v = values_[n]; // one copy per leaf
    if (!v) v = to_host_(n->storage);
    return v;
  }

  void compute(Node* n, Storage& out) {
    int64_t total = n->numel();
    std::vector<std::shared_ptr<Storage>> in;
    for (auto& i : n->inputs) in.push_back(eval(i.get()));
    auto at = [&](int j, int64_t k) { return load_scalar(in[j]->data, n->inputs[j]->dtype, k); };
    if (n->op == Op::Const) {
      V v{n->get<ConstAttr>().value.f, n->get<ConstAttr>().value.i};
      return store_scalar(out.data, n->dtype, 0, v);
    }
    if (is_elementwise(n->op)) {
      DType t = n->inputs[0]->dtype;
      for (int64_t k = 0; k < total; ++k) {
        V r;
        switch (op_category(n->op)) {
        case OpCategory::Unary:
          r = eval_unary(n->op, t, n->dtype, at(0, k));
          break;
        case OpCategory::Binary:
          r = eval_binary(n->op, t, at(0, k), at(1, k));
          break;
        default:
          r = at(0, k).i ? at(1, k) : at(2, k);
          break;
        }
        store_scalar(out.data, n->dtype, k, r);
      }
      return;
    }
    if (is_movement(n->op)) return view(n, out, [&](int64_t k) { return at(0, k); });
    if (is_reduce(n->op)) return reduce(n, out, *in[0]);
    matmul(n, out, *in[0], *in[1]);
  }

  template <typename Read> void view(Node* n, Storage& out, Read rd) {
    const Shape& is = n->inputs[0]->shape;
    for (int64_t k = 0; k < n->numel(); ++k) {
      auto c = unravel(k, n->shape);
      std::vector<int64_t> ic(is.size());
      bool inside = true;
      switch (n->op) {
      case Op::Reshape:
        ic = unravel(k, is);
        break;
      case Op::Permute: {
        auto& perm = n->get<PermuteAttr>().perm;
        for (size_t d = 0; d < perm.size(); ++d) ic[perm[d]] = c[d];
        break;
      }
      case Op::Expand: {
        size_t lead = n->shape.size() - is.size();
        for (size_t d = 0; d < is.size(); ++d) ic[d] = is[d] == 1 ? 0 : c[lead + d];
        break;
      }
      case Op::Slice: {
        auto& s = n->get<SliceAttr>();
        for (size_t d = 0; d < is.size(); ++d) ic[d] = s.start[d] + c[d] * s.step[d];
        break;
      }
      default: {
        auto& p = n->get<PadAttr>();
        for (size_t d = 0; d < is.size(); ++d) {
          ic[d] = c[d] - p.before[d];
          inside = inside && ic[d] >= 0 && ic[d] < is[d];
        }
        if (!inside) store_scalar(out.data, n->dtype, k, V{p.value.f, p.value.i});
      }
      }
      if (inside) store_scalar(out.data, n->dtype, k, rd(ravel(ic, is)));
    }
  }

  void reduce(Node* n, Storage& out, const Storage& in) {
    const Node& x = *n->inputs[0];
    DType t = x.dtype;
    bool fp = is_float(t), arg = n->op == Op::ArgMax || n->op == Op::ArgMin;
    auto& axes = n->get<AxesAttr>().axes;
    int64_t m = n->numel();
    std::vector<V> acc(m);
    std::vector<int64_t> best_idx(m, 0);
    std::vector<bool> started(m, false);
    // Position along the single arg-reduce axis for argmax/argmin.
    for (int64_t k = 0; k < x.numel(); ++k) {
      auto c = unravel(k, x.shape);
      int64_t along = arg ? c[axes[0]] : 0;
      for (int a : axes) c[a] = 0;
      int64_t o = ravel(c, n->shape);
      V v = load_scalar(in.data, t, k);
      if (!started[o]) {
        acc[o] = v;
        best_idx[o] = along;
        started[o] = true;
        continue;
      }
      V& a = acc[o];
      switch (n->op) {
      case Op::Sum:
        if (fp)
          a.f += v.f;
        else
          a.i = t == DType::Bool ? (a.i || v.i)
                                 : static_cast<int64_t>(static_cast<uint64_t>(a.i) + v.i);
        break;
      case Op::Prod:
        if (fp)
          a.f *= v.f;
        else
          a.i = t == DType::Bool ? (a.i && v.i)
                                 : static_cast<int64_t>(static_cast<uint64_t>(a.i) * v.i);
        break;
      case Op::Max:
        a = eval_binary(Op::Maximum, t, a, v);
        break;
      case Op::Min:
        a = eval_binary(Op::Minimum, t, a, v);
        break;
      default: {
        bool better =
            n->op == Op::ArgMax ? (fp ? v.f > a.f : v.i > a.i) : (fp ? v.f < a.f : v.i < a.i);
        if (fp && std::isnan(v.f) && !std::isnan(a.f)) better = true;
        if (better) a = v, best_idx[o] = along;
      }
      }
    }
    for (int64_t o = 0; o < m; ++o) {
      V r = acc[o];
      if (!started[o])
        r = V{n->op == Op::Prod ? 1.0 : 0.0, n->op == Op::Prod ? 1 : 0}; // empty reduction
      if (arg) r = V{0, best_idx[o]};
      store_scalar(out.data, n->dtype, o, arg ? r : eval_cast(r, t, n->dtype));
    }
  }

  void matmul(Node* n, Storage& out, const Storage& a, const Storage& b) {
    size_t r = n->shape.size();
    int64_t M = n->shape[r - 2], N = n->shape[r - 1], K = n->inputs[0]->shape[r - 1];
    int64_t batch = M * N ? n->numel() / (M * N) : 0;
    DType t = n->dtype;
    for (int64_t bt = 0; bt < batch; ++bt)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          V acc;
          for (int64_t k = 0; k < K; ++k) {
            V x = load_scalar(a.data, t, (bt * M + i) * K + k),
              y = load_scalar(b.data, t, (bt * K + k) * N + j);
            if (is_float(t))
              acc.f += x.f * y.f;
            else
              acc.i = static_cast<int64_t>(static_cast<uint64_t>(acc.i) +
                                           static_cast<uint64_t>(x.i) * y.i);
          }
          store_scalar(out.data, t, (bt * M + i) * N + j,
                       is_float(t) ? acc : eval_cast(acc, DType::I64, t));
        }
  }

  const ToHost& to_host_;
  std::unordered_map<Node*, std::shared_ptr<Storage>> values_;
};

} // namespace

std::vector<std::shared_ptr<Storage>> interpret(const std::vector<Node*>& roots,
                                                const ToHost& to_host) {
  Interpreter in(to_host);
  // Inputs first, so eval() never recurses deeply.
  for (Node* n : topo_order(roots, /*stop_at_realized=*/true)) in.eval(n);
  std::vector<std::shared_ptr<Storage>> out;
  for (Node* r : roots) out.push_back(in.eval(r));
  return out;
}

} // namespace kiln
