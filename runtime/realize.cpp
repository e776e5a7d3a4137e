#include "runtime/realize.h"

#include "codegen/backend.h"
#include "ir/error.h"
#include "ir/node_index.h"
#include "ir/resize.h"
#include "passes/layout.h"
#include "passes/schedule.h"
#include "runtime/config.h"
#include "runtime/program.h"
#include "runtime/size_family.h"
#include "runtime/stats.h"
#include "runtime/transfer.h"

#include <algorithm>
#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

namespace kiln {
namespace {

// The structure of a subgraph with leaves numbered by position: equal words, equal program.
// `pos` numbers the nodes by structure (topo_order's walk). Without sizes, it names the program's
// family across sizes (runtime/size_family.h): shapes, slice starts, pad widths and literals left
// out.
std::vector<uint64_t> program_key(const std::vector<Node*>& order, const NodeIndex& pos,
                                  const NodeIndex& outputs, bool sizes = true) {
  std::vector<uint64_t> w;
  w.reserve(order.size() * 8);
  for (Node* n : order) {
    w.push_back(n->realized() ? 1 : 2);
    w.push_back(static_cast<uint64_t>(n->dtype));
    w.push_back(n->shape.size());
    if (sizes)
      for (int64_t d : n->shape) w.push_back(static_cast<uint64_t>(d));
    if (n->realized()) continue;
    w.push_back(static_cast<uint64_t>(n->op));
    // hash_attr() leaves a parameter's value out: programs differing only there are one.
    w.push_back(hash_attr(n->attr, sizes));
    w.push_back(outputs.find(n) >= 0);
    w.push_back(n->inputs.size());
    for (auto& in : n->inputs) w.push_back(pos.find(in.get()));
  }
  return w;
}

struct KeyHash {
  // Four independent multiply-xor lanes, mixed at the end: one serial hash_combine per word was
  // most of the cost of the cuts a long lazy chain makes (tens of thousands of words each).
  size_t operator()(const std::vector<uint64_t>& w) const {
    uint64_t lane[4] = {w.size(), 1, 2, 3};
    size_t i = 0;
    for (; i + 4 <= w.size(); i += 4)
      for (size_t l = 0; l < 4; ++l) lane[l] = (lane[l] ^ w[i + l]) * 0x9e3779b97f4a7c15ull;
    uint64_t h = hash_combine(hash_combine(lane[0], lane[1]), hash_combine(lane[2], lane[3]));
    for (; i < w.size(); ++i) h = hash_combine(h, w[i]);
    return h;
  }
};

// What to realize for a node a user holds: the node if it computes or is a reshape of a buffer
// (which aliases it for free), else the compute node under its views, so that the view becomes
// cheap index math over a realized buffer. A transposed product is realized as it is: it costs
// what the product costs (passes/layout.h), and its readers (an optimizer reading a weight's
// gradient) then read it in order.
Node* held_source(Node* n) {
  if (is_compute(n->op) || storage_source(n) != n) return n;
  if (swaps_last_two(*n) && n->inputs[0]->op == Op::Matmul && !n->inputs[0]->realized()) return n;
  Node* m = n;
  while (!m->realized() && is_movement(m->op)) m = m->inputs[0].get();
  return is_compute(m->op) ? m : nullptr;
}

// A realized node is a leaf from now on. Unless gradients may still flow through it (autodiff
// walks its inputs), it lets go of them, so a loop that reassigns a realized tensor keeps no
// history and its earlier buffers return to the allocator.
void bind(Node& n, std::shared_ptr<Storage> storage) {
  n.storage = std::move(storage);
  if (!n.requires_grad || n.backward_ran || n.backward_passed) n.inputs.clear();
}

} // namespace

namespace {

using ProgramCache = std::unordered_map<std::vector<uint64_t>, std::shared_ptr<Program>, KeyHash>;
using Families = std::unordered_map<std::vector<uint64_t>, SizeFamily, KeyHash>;

struct Caches {
  ProgramCache programs;
  Families families; // by program_key without sizes
};

// Realizes roots that all live on `device` with one program there. A portable node of another
// device in their graph (a literal another tensor brought along) is computed inside it but never
// becomes an output: its value would live on the wrong device.
void realize_on(Device device, const std::vector<Node*>& roots, Caches& caches) {
  NodeIndex pos;
  std::vector<Node*> order = topo_order(roots, /*stop_at_realized=*/true, &pos);
  std::vector<Node*> outputs, leaves, params;
  NodeIndex out_set;
  auto add_output = [&](Node* n) {
    if (n && !n->realized() && out_set.insert(n).second) outputs.push_back(n);
  };
  for (Node* r : roots) add_output(r);
  for (Node* n : order) {
    if (n->realized())
      leaves.push_back(n);
    else if (n->op == Op::Const && n->get<ConstAttr>().param)
      params.push_back(n);
    else if (n->user_refs.load() > 0 && out_set.find(n) < 0 && n->device == device)
      add_output(held_source(n)); // roots are outputs already
  }
  if (outputs.empty()) return;
  // Throws here, before any compile, when the device is not on this machine.
  const Backend& backend =
      backend_for(device, device == Device::cpu() ? std::string_view(options().backend) : "");

  // Outputs in key order so the cached program's output slots line up with this graph's.
  std::vector<Node*> ordered_outputs;
  for (Node* r : roots)
    if (!r->realized() &&
        std::find(ordered_outputs.begin(), ordered_outputs.end(), r) == ordered_outputs.end())
      ordered_outputs.push_back(r);
  for (Node* n : order)
    if (out_set.find(n) >= 0 &&
        std::find(ordered_outputs.begin(), ordered_outputs.end(), n) == ordered_outputs.end())
      ordered_outputs.push_back(n);
  auto key_of = [&](bool sizes) {
    auto key = program_key(order, pos, out_set, sizes);
    // Roots' positions are part of the key too (realize({a, b}) vs realize({b, a})).
    for (Node* o : ordered_outputs) key.push_back(pos.find(o));
    key.push_back(options().fusion); // the same graph fused and unfused are different programs
    key.push_back(options().simplify);
    key.push_back(options().dynamic); // a concrete program and a resized one at the same size
    key.push_back(std::hash<std::string_view>{}(backend.name())); // KILN_BACKEND may change
    key.push_back(std::hash<std::string>{}(device_name(device)));
    return key;
  };

  std::shared_ptr<Program>& prog = caches.programs[key_of(true)];
  if (prog) {
    ++mutable_stats().program_cache_hits;
  } else if (options().dynamic && backend.runs_symbolic()) {
    SizeFamily& family = caches.families[key_of(false)];
    std::vector<int64_t> dims = graph_dims(order);
    if (const Node* m = first_marked(order)) family.mark(dims, marked_dim(order, *m), *m);
    prog = compile_program(ordered_outputs, leaves, params, backend, &family, family.observe(dims));
  } else {
    if (const Node* m = options().dynamic ? first_marked(order) : nullptr)
      explain_ignored_mark(*m, backend.name());
    prog = compile_program(ordered_outputs, leaves, params, backend);
  }

  std::vector<std::shared_ptr<Storage>> inputs;
  for (Node* l : leaves) {
    // A leaf still in host memory (made by to() or a creation op for this device) moves here
    // now, once: the node keeps the copy. (A literal realized elsewhere is copied each time.)
    auto s = to_device(l->storage, device);
    if (l->device == device) l->storage = s;
    inputs.push_back(std::move(s));
  }
  std::vector<Scalar> values;
  for (Node* n : params) values.push_back(n->get<ConstAttr>().value);
  auto results = run_program(*prog, inputs, values);
  for (size_t i = 0; i < ordered_outputs.size(); ++i) bind(*ordered_outputs[i], results[i]);
}

// Values that change device (to() of an unrealized value) first, deepest first: each transfer's
// input is realized on its own device, and the transfer becomes a realized leaf holding the value
// moved. A GPU-bound value waits in host memory until a program there reads it (realize_on moves
// leaves), so a machine without the GPU fails only then.
void realize_transfers(const std::vector<Node*>& roots, Caches& caches) {
  for (Node* n : topo_order(roots, /*stop_at_realized=*/true)) {
    if (n->realized() || !is_transfer(*n)) continue;
    Node* in = n->inputs[0].get();
    if (!in->realized()) realize_on(in->device, {in}, caches);
    bool host_bytes = n->device != Device::cpu() && in->storage->device == Device::cpu();
    bind(*n, host_bytes ? in->storage : to_device(in->storage, n->device));
  }
}

} // namespace

void realize_nodes(const std::vector<Node*>& roots) {
  static std::mutex mu;
  static Caches caches;
  std::lock_guard<std::mutex> lock(mu);
  realize_transfers(roots, caches);
  // One program per device, in the order the roots first name them.
  std::vector<Device> devices;
  for (Node* r : roots)
    if (std::find(devices.begin(), devices.end(), r->device) == devices.end())
      devices.push_back(r->device);
  if (devices.size() == 1) return realize_on(devices[0], roots, caches);
  for (Device d : devices) {
    std::vector<Node*> on_d;
    for (Node* r : roots)
      if (r->device == d) on_d.push_back(r);
    realize_on(d, on_d, caches);
  }
}

} // namespace kiln
