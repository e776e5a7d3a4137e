#include "tools/opt_driver.h"

#include "codegen/backend.h"
#include "codegen/cuda/cuda_listing.h"
#include "ir/error.h"
#include "ir/graph_parser.h"
#include "ir/graph_printer.h"
#include "ir/kernel_parser.h"
#include "ir/resize.h"
#include "ir/verifier.h"
#include "passes/dot.h"
#include "passes/fusion_view.h"
#include "passes/pipeline.h"
#include "runtime/size_family.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln::opt {
namespace {

const std::vector<std::string_view> kStages = {"graph", "fused", "kernels", "llvm", "llvm-opt",
                                               "asm",   "dot",   "cuda",    "ptx"};

const GraphPass* find_pass(std::string_view name) {
  for (const GraphPass& p : graph_passes())
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = std::min(s.find(',', start), s.size());
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool starts_kernel_ir(std::string_view text) {
  size_t i = 0;
  for (;;) { // skip blank and '#' lines
    i = text.find_first_not_of(" \t\r\n", i);
    if (i == std::string_view::npos || text[i] != '#') break;
    i = text.find('\n', i);
  }
  return i != std::string_view::npos && text.substr(i, 7) == "kernel ";
}

// A graph with a marked size (`f32[?64, 784]`, kiln::mark_dynamic) lowers as realize lowers it
// at its first size (runtime/size_family.h): each kernel that depends on the size and fits the
// kernels of resized copies of the graph is symbolic.
std::vector<Kernel> symbolic_where_marked(const std::vector<LoweredKernel>& kernels,
                                          const std::vector<Node*>& roots,
                                          const PipelineOptions& pipe) {
  std::vector<Node*> order = topo_order(roots, /*stop_at_realized=*/true);
  const Node* m = first_marked(order);
  if (!m) {
    std::vector<Kernel> out;
    for (auto& lk : kernels) out.push_back(lk.kernel);
    return out;
  }
  std::vector<int64_t> dims = graph_dims(order);
  int dim = marked_dim(order, *m);
  SizeFamily family;
  family.mark(dims, dim, *m);
  family.add_resized_samples(roots, pipe);
  return family.fitted(kernels, dims[dim]);
}

class Driver {
public:
  explicit Driver(const Request& r) : r_(r) {}
  Result run(std::string_view text);

private:
  bool prints_after(std::string_view pass) const {
    for (auto& p : r_.print_after)
      if (p == pass || p == "all") return true;
    return false;
  }
  void after(std::string_view pass, const std::string& text) {
    if (prints_after(pass)) res_.log += fmt::format("# ---- after {} ----\n{}", pass, text);
  }
  std::string code(const std::vector<Kernel>& kernels, std::string_view stage);

  const Request& r_;
  Result res_;
};

std::string Driver::code(const std::vector<Kernel>& kernels, std::string_view stage) {
  if (stage == "kernels") {
    std::string s;
    for (auto& k : kernels) s += print_kernel(k);
    return s;
  }
  if (stage == "cuda") { // pure text: every build has the CUDA source generator
    std::string s;
    for (auto& k : kernels) s += cuda::cuda_listing(cuda::emit_cuda(k));
    return s;
  }
  const Backend* llvm = find_backend("llvm");
  if (!llvm) fail("kiln-opt", "--emit={} needs LLVM, and this kiln is built without it", stage);
  std::string s;
  for (auto& k : kernels) {
    Compiled c = llvm->compile(k, {.dumps = {stage == "asm" ? "asm" : "llvm"}, .cpu = r_.cpu});
    s += fmt::format("{} ---- {} {} ----\n", stage == "asm" ? "#" : ";", stage, k.name);
    for (auto& [name, text] : c.dumps)
      if (name == stage) s += text;
    if (!s.empty() && s.back() != '\n') s += '\n';
  }
  return s;
}

Result Driver::run(std::string_view text) {
  std::string emit = r_.emit;
  if (emit.empty()) {
    bool lowers = std::find(r_.passes.begin(), r_.passes.end(), "lower") != r_.passes.end();
    bool schedules = std::find(r_.passes.begin(), r_.passes.end(), "schedule") != r_.passes.end();
    emit = lowers ? "kernels" : schedules ? "fused" : "graph";
  }
  if (emit == "ptx")
    fail("kiln-opt", "--emit=ptx is not available yet: kiln-opt does not run NVRTC (--emit=cuda "
                     "prints the CUDA source)");
  if (starts_kernel_ir(text)) {
    if (!r_.passes.empty())
      fail("kiln-opt", "the input is kernel IR: graph passes do not apply to it");
    if (emit != "kernels" && emit != "llvm" && emit != "llvm-opt" && emit != "asm" &&
        emit != "cuda" && emit != "graph")
      fail("kiln-opt", "the input is kernel IR: --emit={} needs graph IR", emit);
    res_.out = code(parse_kernels(text, r_.source_name), emit == "graph" ? "kernels" : emit);
    return res_;
  }
  GraphParseOptions po;
  po.source_name = r_.source_name;
  ParsedGraph parsed = parse_graph(text, po);
  Graph g{parsed.outputs};
  for (const std::string& name : r_.passes) {
    if (name == "schedule" || name == "lower") continue; // done below, after the graph passes
    const GraphPass* p = find_pass(name);
    g = p->run(g);
    if (r_.verify_each) verify_graph(g.raw(), p->name);
    after(p->name, print_graph(g.raw(), {.source_locations = true}));
  }
  if (emit == "graph") {
    res_.out = print_graph(g.raw(), {.source_locations = true});
    return res_;
  }
  // Scheduling and lowering: the pipeline with its graph passes off (they ran above).
  std::vector<Node*> unrealized;
  for (Node* o : g.raw())
    if (!o->realized()) unrealized.push_back(o);
  PipelineOptions pipe;
  pipe.verify_each = r_.verify_each;
  pipe.fusion = r_.fusion;
  pipe.simplify = false;
  Schedule s = run_pipeline(unrealized, pipe);
  // Outputs that are buffers stay in the printed graph. (The schedule's own graph stays too: its
  // kernels point into it, e.g. at the partial sums block_long_sums adds.)
  for (Node* o : g.raw())
    if (o->realized()) s.graph.outputs.push_back(o->shared_from_this());
  after("schedule", print_fused(s));
  std::vector<Kernel> kernels = symbolic_where_marked(s.kernels, unrealized, pipe);
  after("lower", code(kernels, "kernels"));
  if (emit == "fused")
    res_.out = print_fused(s);
  else if (emit == "dot")
    res_.out = graph_dot(s.graph.raw(), fusion_groups(s));
  else
    res_.out = code(kernels, emit);
  return res_;
}

} // namespace

Request parse_args(const std::vector<std::string>& args, std::vector<std::string>& files,
                   bool& help) {
  Request r;
  help = false;
  for (const std::string& a : args) {
    auto value = [&](std::string_view flag) -> std::string_view {
      return std::string_view(a).substr(flag.size());
    };
    if (a == "-h" || a == "--help")
      help = true;
    else if (a.rfind("--passes=", 0) == 0) {
      for (std::string& p : split(value("--passes="))) {
        if (p == "simplify")
          for (const GraphPass& gp : graph_passes()) r.passes.emplace_back(gp.name);
        else if (p == "fuse")
          r.passes.push_back("schedule");
        else if (find_pass(p) || p == "schedule" || p == "lower")
          r.passes.push_back(p);
        else
          fail("kiln-opt", "unknown pass '{}' (see --help)", p);
      }
    } else if (a.rfind("--emit=", 0) == 0) {
      r.emit = value("--emit=");
      if (std::find(kStages.begin(), kStages.end(), r.emit) == kStages.end())
        fail("kiln-opt", "unknown stage '{}' for --emit (see --help)", r.emit);
    } else if (a == "--print-after-all")
      r.print_after.push_back("all");
    else if (a.rfind("--print-after=", 0) == 0)
      for (std::string& p : split(value("--print-after="))) r.print_after.push_back(p);
    else if (a == "--verify-each")
      r.verify_each = true;
    else if (a == "--no-fusion")
      r.fusion = false;
    else if (a.rfind("--mcpu=", 0) == 0)
      r.cpu = value("--mcpu=");
    else if (a.size() > 1 && a[0] == '-')
      fail("kiln-opt", "unknown option '{}' (see --help)", a);
    else
      files.push_back(a);
  }
  return r;
}

Result run(std::string_view text, const Request& r) { return Driver(r).run(text); }

std::string help_text() {
  std::string s =
      "usage: kiln-opt [options] [file]   (no file or '-': read standard input)\n\n"
      "Reads graph IR (as KILN_DUMP=graph and kiln::ir_text print it) or kernel IR, runs\n"
      "passes, and prints one stage of the compiler.\n\noptions:\n"
      "  --passes=p1,p2,...  passes to run, in order (graph passes, then schedule/lower)\n"
      "  --emit=STAGE        what to print (default: the last stage the passes reach)\n"
      "  --print-after-all   print the IR after every pass (to stderr)\n"
      "  --print-after=p,..  print the IR after these passes\n"
      "  --verify-each       run the graph verifier after every pass\n"
      "  --no-fusion         one kernel per compute op (the unfused baseline)\n"
      "  --mcpu=CPU          llvm, llvm-opt and asm for another x86-64 CPU (znver4,\n"
      "                      skylake-avx512, znver3), as a host of that kind compiles them\n"
      "  -h, --help          this text\n\npasses:\n";
  for (const GraphPass& p : graph_passes()) s += fmt::format("  {:<10} {}\n", p.name, p.summary);
  s += "  simplify   all of the above, in pipeline order\n"
       "  schedule   group nodes into kernels (alias: fuse)\n"
       "  lower      lower each kernel to kernel IR\n\nstages (--emit):\n"
       "  graph      graph IR after the passes\n"
       "  fused      graph IR plus one '# kernel' line per fusion group\n"
       "  kernels    kernel IR\n"
       "  llvm       LLVM IR of each kernel before optimization\n"
       "  llvm-opt   LLVM IR after -O3\n"
       "  asm        host assembly (or --mcpu's)\n"
       "  dot        Graphviz graph with kernels as clusters (render: dot -Tsvg)\n"
       "  cuda       CUDA C++ of each kernel, its launch plan as a comment (no prelude)\n"
       "  ptx        not available yet\n";
  return s;
}

} // namespace kiln::opt
