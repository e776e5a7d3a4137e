// ir_dump: a small model walked through every compiler stage, for a newcomer to read top to bottom.
//
// A linear layer (matmul + bias), a softmax, a cross-entropy loss and its backward: the graph IR
// the frontend traced, the graph after each simplification pass, the fusion groups, the kernel IR,
// LLVM IR and assembly of one kernel, a Graphviz drawing, and the profile of a run. Every stage
// shown here is also what `kiln-opt` prints from the same text (the command is shown each time).
#include <kiln/kiln.h>

#include "tools/opt_driver.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

void banner(const std::string& title, const std::string& command) {
  std::cout << "\n==== " << title << " ====\n";
  if (!command.empty()) std::cout << "# same as: kiln-opt " << command << " model.ir\n";
}

// Long stages (LLVM IR, assembly) are cut to their first lines.
std::string head(const std::string& text, int lines) {
  std::istringstream in(text);
  std::string out, l;
  for (int i = 0; i < lines && std::getline(in, l); ++i) out += l + "\n";
  if (std::getline(in, l)) out += "... (" + std::to_string(lines) + " lines shown)\n";
  return out;
}

std::string stage(const std::string& ir, const std::vector<std::string>& args) {
  std::vector<std::string> files;
  bool help = false;
  kiln::opt::Request r = kiln::opt::parse_args(args, files, help);
  kiln::opt::Result res = kiln::opt::run(ir, r);
  return res.log + res.out;
}

} // namespace

int main() {
  namespace F = kiln::nn::functional;
  kiln::manual_seed(0);
  kiln::profile_start(); // the table at the end; KILN_PROFILE=trace.json gives a Chrome trace

  // 1. Trace: nothing runs, each line below adds nodes to a lazy graph (with this file's lines).
  auto x = kiln::randn({8, 16});
  auto target = kiln::randint(0, 4, {8}, kiln::DType::I64);
  auto w = kiln::randn({16, 4});
  auto b = kiln::tensor(std::vector<float>(4, 0.f));
  w.realize();
  b.realize();
  w.requires_grad_(); // parameters: realized leaves that gradients flow to
  b.requires_grad_();
  auto logits = kiln::matmul(x, w) + b;
  auto probs = F::softmax(logits, 1);
  auto loss = F::cross_entropy(logits, target);
  loss.backward(); // a graph pass: appends gradient nodes to the same graph
  std::vector<kiln::Tensor> outputs = {probs, loss, w.grad(), b.grad()};

  // 2. The graph IR: one node per line, SSA names, dtype and shape, and the line that made it.
  std::string ir = kiln::ir_text(outputs);
  std::ofstream("model.ir") << ir;
  banner("graph IR (kiln::ir_text, KILN_DUMP=graph; saved as model.ir)", "");
  std::cout << ir;

  // 3. The simplification passes, one after another (KILN_DUMP=passes).
  banner("after each graph pass", "--passes=simplify --print-after-all");
  std::cout << head(stage(ir, {"--passes=simplify", "--print-after-all"}), 60);

  // 4. Scheduling: which nodes each kernel computes (KILN_DUMP=fused).
  banner("fusion groups", "--passes=simplify --emit=fused");
  std::cout << stage(ir, {"--passes=simplify", "--emit=fused"});
  banner("the same without fusion: one kernel per op",
         "--passes=simplify --emit=fused --no-fusion");
  std::cout << stage(ir, {"--passes=simplify", "--emit=fused", "--no-fusion"});

  // 5. Kernel IR: loops, loads with index arithmetic, scalar ops, reduction stages, stores.
  banner("kernel IR (KILN_DUMP=kernels)", "--passes=simplify --emit=kernels");
  std::cout << head(stage(ir, {"--passes=simplify", "--emit=kernels"}), 80);

  // 6. Native code through LLVM (KILN_DUMP=llvm,asm).
  banner("LLVM IR after -O3, first kernel", "--passes=simplify --emit=llvm-opt");
  std::cout << head(stage(ir, {"--passes=simplify", "--emit=llvm-opt"}), 40);
  banner("host assembly, first kernel", "--passes=simplify --emit=asm");
  std::cout << head(stage(ir, {"--passes=simplify", "--emit=asm"}), 40);

  // 7. A picture: kernels as clusters, dtype/shape on edges, source lines on nodes.
  kiln::dump_dot(outputs, "ir_dump.dot");
  banner("Graphviz", "--passes=simplify --emit=dot");
  if (std::system("command -v dot > /dev/null 2>&1") == 0 &&
      std::system("dot -Tsvg ir_dump.dot -o ir_dump.svg") == 0)
    std::cout << "wrote ir_dump.dot and ir_dump.svg\n";
  else
    std::cout
        << "wrote ir_dump.dot (install graphviz for `dot -Tsvg ir_dump.dot -o ir_dump.svg`)\n";

  // 8. Run it, then a loss over the updated graph (a second program), and read the profile.
  kiln::realize(outputs);
  std::cout << "\nloss = " << loss.item<float>() << "\n";
  auto again = F::cross_entropy(kiln::matmul(x, w) + b, target);
  again.realize();
  banner("profile (KILN_PROFILE=1): which line of my model is each kernel?", "");
  std::cout << kiln::profile_table();
  kiln::profile_start("0"); // printed above; nothing more at exit
  std::cout << "\n" << kiln::stats().str() << "\n";
}
