// ir_text, dot_text/dump_dot and the profile from C++ (frontend/kiln/debug.h).
#include "kiln/debug.h"

#include "ir/graph_printer.h"
#include "passes/dot.h"
#include "runtime/config.h"
#include "runtime/profile.h"

#include <fstream>

namespace kiln {
namespace {
std::vector<Node*> roots_of(const std::vector<Tensor>& ts) {
  std::vector<Node*> r;
  for (auto& t : ts) {
    if (!t.defined()) fail("ir_text", "undefined tensor");
    r.push_back(t.node().get());
  }
  return r;
}
} // namespace

std::string ir_text(const std::vector<Tensor>& tensors) {
  return print_graph(roots_of(tensors), {.source_locations = true});
}

std::string dot_text(const std::vector<Tensor>& tensors) {
  std::vector<Node*> roots = roots_of(tensors), unrealized;
  for (Node* r : roots)
    if (!r->realized()) unrealized.push_back(r);
  PipelineOptions po;
  po.fusion = options().fusion;
  po.simplify = options().simplify;
  Schedule s = run_pipeline(unrealized, po);
  // Realized roots have no kernel; they are drawn as buffers next to the rewritten outputs.
  for (Node* r : roots)
    if (r->realized()) s.graph.outputs.push_back(r->shared_from_this());
  return graph_dot(s.graph.raw(), fusion_groups(s));
}

void dump_dot(const std::vector<Tensor>& tensors, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << dot_text(tensors);
  if (!out) fail("dump_dot", "cannot write {}", path);
}

std::string profile_table() { return profile::table(); }
void profile_start(const std::string& mode) { profile::configure(mode); }

} // namespace kiln
