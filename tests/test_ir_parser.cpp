// IR parsers: round trips over every IR file and traced graphs, located errors, mutated inputs,
// and kiln-opt from the command line.
#include "ir_check.h"
#include "test_util.h"

#include "ir/graph_parser.h"
#include "ir/graph_printer.h"
#include "ir/kernel_parser.h"
#include "passes/pipeline.h"
#include "tools/opt_driver.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

using kt::slurp;

std::string reprint_graph(const std::string& text) {
  return print_graph(parse_graph(text).roots(), {.source_locations = true});
}

std::string reprint_kernels(const std::string& text) {
  std::string s;
  for (auto& k : parse_kernels(text)) s += print_kernel(k);
  return s;
}

// Graph text -> the text of its lowered kernels.
std::string lowered(const std::string& graph_text) {
  opt::Request r;
  r.emit = "kernels";
  return opt::run(graph_text, r).out;
}

// Round trips one traced graph, and the kernels it lowers to.
void check_round_trip(const std::vector<Tensor>& ts) {
  std::vector<Node*> roots;
  for (auto& t : ts) roots.push_back(t.node().get());
  std::string text = print_graph(roots, {.source_locations = true});
  INFO(text);
  CHECK(reprint_graph(text) == text);
  std::vector<Node*> unrealized;
  for (Node* r : roots)
    if (!r->realized()) unrealized.push_back(r);
  Schedule s = run_pipeline(unrealized, {});
  for (auto& lk : s.kernels) {
    std::string k = print_kernel(lk.kernel);
    INFO(k);
    CHECK(print_kernel(parse_kernel(k)) == k);
  }
}

int run_shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

const char* kSoftmax = "%x = buffer : f32[4, 8]  # model.cpp:3\n"
                       "%m = max %x {axes=[1]} : f32[4, 1]  # model.cpp:4 softmax\n"
                       "%me = expand %m : f32[4, 8]\n"
                       "%d = sub %x, %me : f32[4, 8]\n"
                       "%e = exp %d : f32[4, 8]\n"
                       "%s = sum %e {axes=[1]} : f32[4, 1]\n"
                       "%se = expand %s : f32[4, 8]\n"
                       "%y = div %e, %se : f32[4, 8]\n"
                       "%c = const {value=0.5, param} : f32[]\n"
                       "%cr = reshape %c : f32[1, 1]\n"
                       "%ce = expand %cr : f32[4, 8]\n"
                       "%z = mul %y, %ce : f32[4, 8]\n"
                       "%p = pad %z {before=[1,0], value=-inf} : f32[6, 8]\n"
                       "%q = slice %p {start=[5,7], step=[-1,-2]} : f32[6, 4]\n"
                       "return %q, %s\n";

} // namespace

TEST_CASE("graph and kernel IR round-trip over every IR test file", "[ir][parser]") {
  int files = 0;
  for (auto& e : fs::directory_iterator(KILN_IR_TEST_DIR)) {
    if (e.path().extension() != ".txt") continue;
    ++files;
    std::string text = slurp(e.path());
    INFO(e.path().string());
    if (text.find("\nkernel ") != std::string::npos) {
      std::string once = reprint_kernels(text);
      CHECK(reprint_kernels(once) == once);
      continue;
    }
    std::string once = reprint_graph(text);
    CHECK(reprint_graph(once) == once);
    std::string ks = lowered(text);
    if (!ks.empty()) CHECK(reprint_kernels(ks) == ks);
  }
  CHECK(files >= 8);
}

TEST_CASE("round-trip over traced graphs of every op family", "[ir][parser]") {
  kiln::manual_seed(3);
  Tensor x = kt::random_input({3, 4}, DType::F32), i = kt::small_ints({3, 4}, DType::I32);
  Tensor b = kt::small_ints({3, 4}, DType::Bool), u = kt::small_ints({3, 4}, DType::U8);
  Tensor d = kt::random_input({3, 4}, DType::F64);
  check_round_trip({(x * 2 + 1).relu().exp().log1p().tanh().sigmoid()});
  check_round_trip({x.gelu(), x.gelu("tanh"), x.silu(), x.softplus()});
  check_round_trip({kiln::where(b, x, x.neg()), (i % 3) + (i * -7), u + u, !b, b && (x > 0.25)});
  check_round_trip({x / 3.0e-7, d * 1e300, kiln::clamp(x, -0.5, std::nullopt), x.to(DType::I64)});
  check_round_trip(
      {x.sum({1}), x.mean({0}, true), x.max(), i.min({1}), x.prod({0}), x.argmax(1), x.argmin()});
  check_round_trip({x.transpose(0, 1).reshape({2, 6}), x.slice(1, -1, std::nullopt, -2),
                    x.unsqueeze(0).expand({2, 3, 4})});
  check_round_trip(
      {kiln::pad(x, {1, 2, 0, 1}, -1.5), kiln::cat({x, x}, 1), kiln::stack({x, x}, 0)});
  check_round_trip({kiln::matmul(x, x.transpose(0, 1)) + 1,
                    kiln::matmul(x.reshape({1, 3, 4}), d.to(DType::F32).reshape({1, 4, 3}))});
  Tensor sm = (x - x.max({1}, true)).exp();
  check_round_trip({sm / sm.sum({1}, true)});
  check_round_trip(
      {x * std::numeric_limits<double>::infinity(), x + -0.0, kiln::full({2}, std::nan(""))});
  x.realize();
  check_round_trip({x, x + 1}); // a realized node prints as a buffer
}

TEST_CASE("parse errors name line, column and what was expected", "[ir][parser]") {
  auto error_of = [](const std::string& text) {
    try {
      GraphParseOptions o;
      o.source_name = "t.ir";
      parse_graph(text, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = exq %0 : f32[4]\nreturn %1\n"),
             Catch::StartsWith("[parse] t.ir:2:6: expected a graph-IR op, got 'exq'"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = exp %9 : f32[4]\nreturn %1\n"),
             Catch::StartsWith("[parse] t.ir:2:10: use of undefined value %9"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = exp %0 : f33[4]\nreturn %1\n"),
             Catch::StartsWith("[parse] t.ir:2:15: expected a dtype"));
  CHECK_THAT(error_of("%0 = buffer : f32[4\nreturn %0\n"),
             Catch::StartsWith("[parse] t.ir:1:20: expected ',' or ']'"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n"),
             Catch::StartsWith("[parse] t.ir:2:1: expected 'return'"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = sum %0 : f32[1]\nreturn %1\n"),
             Catch::StartsWith("[parse] t.ir:2:13: expected attribute 'axes'"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = add %0, %0 : f32[5]\nreturn %1\n"),
             Catch::Contains("t.ir:2:1: malformed add: elementwise input shape"));
  // expand broadcasts as NumPy does: dims align at the right and new dims lead.
  CHECK(error_of("%0 = buffer : f32[3]\n%1 = expand %0 : f32[2,3]\nreturn %1\n") == "no error");
  CHECK_THAT(error_of("%0 = buffer : f32[3]\n%1 = expand %0 : f32[3,2]\nreturn %1\n"),
             Catch::Contains("t.ir:2:1: malformed expand: expand of a non-1 dim"));
  CHECK_THAT(error_of("%0 = buffer : f32[2,3]\n%1 = expand %0 : f32[3]\nreturn %1\n"),
             Catch::Contains("t.ir:2:1: malformed expand: expand rank"));
  CHECK_THAT(error_of("%0 = const {value=abc} : f32[]\nreturn %0\n"),
             Catch::StartsWith("[parse] t.ir:1:19: expected a f32 literal, got 'abc'"));
  CHECK_THAT(error_of("%0 = buffer : f32[4]\nreturn %0\n%1 = exp %0 : f32[4]\n"),
             Catch::StartsWith("[parse] t.ir:3:1: expected end of input after 'return'"));
  // The message shows the line and a caret under the column.
  CHECK_THAT(error_of("%0 = buffer : f32[4]\n%1 = exq %0 : f32[4]\nreturn %1\n"),
             Catch::EndsWith("\n  %1 = exq %0 : f32[4]\n       ^"));
  auto kernel_error = [](const std::string& text) {
    try {
      parse_kernels(text, "k.ir");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(kernel_error("kernel k(a0: f32[4], a1: f32[4] out)\n  domain [4]\n  %0 = index 0 : "
                          "i64\n  %1 = load a0[%2] : f32\n"),
             Catch::StartsWith("[parse] k.ir:4:16: expected an earlier value"));
  CHECK_THAT(kernel_error("kernel k(a0: f32[4], a1: f32[4] out)\n  domain [4]\n  %0 = index 0 : "
                          "i64\n  %1 = load a0[%0] : f32\n"
                          "  %2 = add %1, %0 : f32\n"),
             Catch::StartsWith("[parse] k.ir:5:1: malformed add: binary operands differ"));
}

TEST_CASE("mutated inputs give located errors or valid output, never a crash", "[ir][parser]") {
  std::string base = kSoftmax;
  std::vector<std::string> mutants;
  for (size_t pos :
       {0ul, 3ul, 9ul, 17ul, 30ul, 45ul, 70ul, 101ul, 150ul, 222ul, 300ul, 371ul, 420ul, 500ul})
    if (pos < base.size()) {
      mutants.push_back(base.substr(0, pos) + base.substr(pos + 1)); // a character dropped
      mutants.push_back(base.substr(0, pos));                        // truncated
      std::string flipped = base;
      flipped[pos] = "%@{}[],:=#x9-\n"[pos % 14];
      mutants.push_back(flipped); // a character replaced
    }
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"f32[4, 8]", "f32[4, 9]"},
           {"axes=[1]", "axes=[7]"},
           {"axes=[1]", "axes=[]"},
           {"max", "matmul"},
           {"value=0.5", "value=true"},
           {"before=[1,0]", "before=[-1,0]"},
           {"step=[-1,-2]", "step=[0,1]"},
           {"return %q, %s", "return"},
           {"%d = sub", "%x = sub"},
           {"f32[6, 4]", "f32[6, 99999999999999]"},
           {"f32[4, 8]", "f32[-4, 8]"},
           {"sub %x, %me", "sub %x"},
           {"exp %d", "exp %d, %d"},
           {"start=[5,7]", "start=[6,7]"},
           {"{value=0.5, param}", "{value=0.5, param, perm=[1]}"}}) {
    std::string m = base;
    m.replace(m.find(from), from.size(), to);
    mutants.push_back(m);
  }
  REQUIRE(mutants.size() >= 36);
  static const std::regex located(
      R"(^\[parse\] <input>:\d+:\d+: (expected|use of|return of|malformed|unexpected|negative|%\S+ is defined|the shape))");
  int errors = 0;
  for (const std::string& m : mutants) {
    INFO("input:\n" << m);
    opt::Request r;
    r.source_name = "<input>";
    r.emit = "kernels";
    try {
      opt::run(m, r);
    } catch (const Error& e) {
      ++errors;
      std::string msg = e.what();
      INFO(msg);
      CHECK(std::regex_search(msg, located));
    }
  }
  CHECK(errors >= 30);
}

TEST_CASE("kiln-opt: --help, every stage, and exit code 1 on bad input", "[ir][kiln-opt]") {
  fs::path dir = fs::temp_directory_path() / "kiln_opt_test";
  fs::create_directories(dir);
  std::ofstream(dir / "ok.ir") << kSoftmax;
  std::ofstream(dir / "bad.ir") << "%0 = buffer : f32[4]\n%1 = exp %0 : f32[4\nreturn %1\n";
  std::string opt = KILN_OPT_PATH;
  std::string out = (dir / "out.txt").string();
  CHECK(run_shell(opt + " --help > " + out) == 0);
  CHECK(slurp(out).find("--passes") != std::string::npos);
  for (std::string stage :
       {"graph", "fused", "kernels", "llvm", "llvm-opt", "asm", "dot", "cuda"}) {
    INFO(stage);
    bool llvm_stage = stage == "llvm" || stage == "llvm-opt" || stage == "asm";
    if (llvm_stage && !kiln::find_backend("llvm")) { // a KILN_LLVM=OFF build says so
      CHECK(run_shell(opt + " --passes=simplify --emit=" + stage + " " + (dir / "ok.ir").string() +
                      " 2> " + out) == 1);
      CHECK(slurp(out).find("built without") != std::string::npos);
      continue;
    }
    CHECK(run_shell(opt + " --passes=simplify --emit=" + stage + " " + (dir / "ok.ir").string() +
                    " > " + out) == 0);
    CHECK(fs::file_size(out) > 0);
  }
  CHECK(run_shell(opt + " --print-after-all --verify-each --passes=simplify,schedule,lower < " +
                  (dir / "ok.ir").string() + " > " + out + " 2>&1") == 0);
  CHECK(slurp(out).find("# ---- after lower ----") != std::string::npos);
  CHECK(run_shell(opt + " " + (dir / "bad.ir").string() + " 2> " + out) == 1);
  CHECK(slurp(out).find("bad.ir:2:20: expected ',' or ']'") != std::string::npos);
  CHECK(run_shell(opt + " --emit=ptx " + (dir / "ok.ir").string() + " 2> " + out) == 1);
  CHECK(slurp(out).find("not available yet") != std::string::npos);
  // The CUDA source is pure text: every build prints it, launch plan first.
  CHECK(run_shell(opt + " --passes=simplify --emit=cuda " + (dir / "ok.ir").string() + " > " +
                  out) == 0);
  CHECK(slurp(out).find("// launch: strategy ") != std::string::npos);
  CHECK(slurp(out).find("extern \"C\" __global__ void") != std::string::npos);
  CHECK(run_shell(opt + " --passes=nope " + (dir / "ok.ir").string() + " 2> " + out) == 1);
  CHECK(run_shell(opt + " " + (dir / "missing.ir").string() + " 2> " + out) == 1);
  fs::remove_all(dir);
}

TEST_CASE("sizes that follow a marked axis print with '?' and parse back", "[ir][parse][dynamic]") {
  Tensor x = randn({6, 5});
  x.realize();
  mark_dynamic(x, 0);
  Tensor flat = (x * 2.0f).reshape({30});
  Tensor y = flat.sum() + x.mean({0}); // the mean's rows stay [5]
  std::string text = print_graph({y.node().get()});
  INFO(text);
  CHECK(text.find("buffer : f32[?6, 5]") != std::string::npos);
  CHECK(text.find(": f32[?30]") != std::string::npos);
  CHECK(text.find(": f32[5]") != std::string::npos);
  CHECK(reprint_graph(text) == text);
  // A '?' marks the node it is on: the parsed graph resizes the same way.
  ParsedGraph g = parse_graph(text);
  CHECK(g.nodes[0]->dynamic_axis == 0);
  CHECK_THROWS_WITH(parse_graph("%0 = buffer : f32[?]\nreturn %0\n"),
                    Catch::Contains("an integer in the shape"));
}
