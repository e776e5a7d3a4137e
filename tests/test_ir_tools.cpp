// Inspection from a running program: ir_text, KILN_DUMP_DIR files, dump_dot, KILN_PROFILE.
#include "ir_check.h"
#include "test_util.h"

#include "ir/graph_parser.h"
#include "ir/graph_printer.h"
#include "runtime/profile.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;
using kiln::Tensor;

namespace {

using kt::slurp;

// Restores the dump options however a test ends.
struct DumpOptions {
  std::string dump = kiln::options().dump, dir = kiln::options().dump_dir;
  ~DumpOptions() { kiln::options().dump = dump, kiln::options().dump_dir = dir; }
};

} // namespace

TEST_CASE("ir_text returns the graph with the user's source lines; it parses back", "[ir][tools]") {
  Tensor x = kiln::randn({5, 7});
  int line = __LINE__ + 1;
  Tensor y = kiln::nn::functional::softmax(x * 3, 1);
  std::string text = kiln::ir_text({y});
  CHECK(text.find("test_ir_tools.cpp:" + std::to_string(line)) != std::string::npos);
  CHECK(text.find(" softmax") != std::string::npos); // the composite's label
  kiln::ParsedGraph g = kiln::parse_graph(text);
  CHECK(kiln::print_graph(g.roots(), {.source_locations = true}) == text);
}

TEST_CASE("KILN_DUMP_DIR writes each stage as a file named by program, kernel and stage",
          "[ir][tools]") {
  DumpOptions restore;
  fs::path dir = fs::temp_directory_path() / "kiln_dump_dir_test";
  fs::remove_all(dir);
  kiln::options().dump = "all";
  kiln::options().dump_dir = dir.string();
  Tensor x = kiln::randn({11, 13});
  Tensor y = (x - x.max({1}, true)).exp().sum({1}) * 7.5; // shapes no other test uses: new kernels
  y.realize();
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  INFO(fmt::format("{}", fmt::join(names, "\n")));
  auto has = [&](const std::string& re) {
    return std::any_of(names.begin(), names.end(),
                       [&](auto& n) { return std::regex_match(n, std::regex(re)); });
  };
  CHECK(has(R"(p[0-9a-f]{16}\.00\.graph\.ir)"));
  CHECK(has(R"(p[0-9a-f]{16}\.01\.fold\.ir)"));
  CHECK(has(R"(p[0-9a-f]{16}\.\d\d\.fused\.ir)"));
  CHECK(has(R"(p[0-9a-f]{16}\.k_[a-z_0-9]+\.kernels\.ir)"));
  if (kt::runs_llvm()) {
    CHECK(has(R"(p[0-9a-f]{16}\.k_[a-z_0-9]+\.llvm\.ll)"));
    CHECK(has(R"(p[0-9a-f]{16}\.k_[a-z_0-9]+\.llvm-opt\.ll)"));
    CHECK(has(R"(p[0-9a-f]{16}\.k_[a-z_0-9]+\.asm\.s)"));
  }
  for (auto& n : names)
    if (n.find(".graph.ir") != std::string::npos) CHECK_NOTHROW(kiln::parse_graph(slurp(dir / n)));
  fs::remove_all(dir);
}

TEST_CASE("dump_dot draws kernels as clusters with shapes and source lines", "[ir][tools]") {
  Tensor x = kiln::randn({4, 6});
  int line = __LINE__ + 1;
  Tensor y = (kiln::nn::functional::softmax(x, 1) * 2).sum({0});
  fs::path path = fs::temp_directory_path() / "kiln_dump_dot_test.dot";
  kiln::dump_dot({y}, path.string());
  std::string dot = slurp(path);
  fs::remove(path);
  CHECK(dot.rfind("digraph kiln {", 0) == 0);
  CHECK(dot.find("subgraph cluster_0") != std::string::npos);
  CHECK(dot.find("label=\"f32[4, 6]\"") != std::string::npos);
  CHECK(dot.find("test_ir_tools.cpp:" + std::to_string(line)) != std::string::npos);
  CHECK(!y.is_realized()); // drawing compiles and runs nothing
}

TEST_CASE("KILN_PROFILE: per-kernel table with source lines, trace JSON with one event per launch",
          "[ir][tools]") {
  kiln::profile::configure("1");
  kiln::profile::reset();
  Tensor x = kiln::randn({9, 17});
  int line = __LINE__ + 1;
  Tensor y = kiln::nn::functional::softmax(x, 1);
  for (int i = 0; i < 3; ++i) {
    Tensor z = (y * (i + 1.5)).sum({1});
    z.realize();
  }
  std::string table = kiln::profile_table();
  std::string json = kiln::profile::trace_json();
  kiln::profile::configure("");
  kiln::profile::reset();
  INFO(table);
  CHECK(table.find("kernel") != std::string::npos);
  CHECK(table.find("launches") != std::string::npos);
  CHECK(table.find("test_ir_tools.cpp:" + std::to_string(line) + " softmax") != std::string::npos);
  // y is held, so it is computed once; the sum runs 3 times (the second time from the cache).
  CHECK(std::regex_search(table, std::regex(R"(k_max_sub_exp_sum\S* +1 )")));
  CHECK(std::regex_search(table, std::regex(R"(k_mul_sum\S* +3 )")));
  INFO(json);
  CHECK(json.rfind("{\"traceEvents\":[", 0) == 0);
  size_t launches = 0;
  for (size_t p = json.find("\"cat\":\"launch\""); p != std::string::npos;
       p = json.find("\"cat\":\"launch\"", p + 1))
    ++launches;
  CHECK(launches == 4);
  CHECK(json.find("\"cat\":\"compile") != std::string::npos);
  CHECK(json.substr(json.size() - 2) == "}\n");
}
