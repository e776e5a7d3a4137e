// Golden IR tests: each tests/ir/*.txt holds input IR, a RUN line (kiln-opt arguments) and CHECK
// lines. KILN_UPDATE_GOLDEN=1 rewrites the CHECK lines from the current output.
#include <catch2/catch.hpp>

#include "ir_check.h"
#include "tools/opt_driver.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

using kt::slurp;

std::vector<fs::path> golden_files() {
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(KILN_IR_TEST_DIR))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

TEST_CASE("golden IR files", "[ir][golden]") {
  bool update =
      std::getenv("KILN_UPDATE_GOLDEN") && std::string(std::getenv("KILN_UPDATE_GOLDEN")) == "1";
  auto files = golden_files();
  REQUIRE(files.size() >= 8);
  for (const fs::path& f : files) {
    DYNAMIC_SECTION(f.filename().string()) {
      std::string text = slurp(f);
      kt::GoldenFile g = kt::read_golden(text);
      INFO(f.string());
      REQUIRE(!g.run_args.empty());
      std::vector<std::string> extra;
      bool help = false;
      kiln::opt::Request r = kiln::opt::parse_args(g.run_args, extra, help);
      r.source_name = f.filename().string();
      kiln::opt::Result res = kiln::opt::run(text, r);
      std::string output = res.log + res.out;
      if (update) {
        std::ofstream(f, std::ios::binary) << kt::rewrite_checks(text, output);
        continue;
      }
      REQUIRE(!g.checks.empty());
      INFO("output:\n" << output);
      CHECK(kt::match_checks(g.checks, output) == "");
    }
  }
}

TEST_CASE("the golden matcher: CHECK, CHECK-NEXT, CHECK-NOT, regex", "[ir][golden]") {
  std::string out = "a = 1\nb = 2\nkernel k_add_1a2b3c(x)\nc = 3\n";
  auto run = [&](const std::string& file) {
    return kt::match_checks(kt::read_golden(file).checks, out);
  };
  CHECK(run("# CHECK: a = 1\n# CHECK-NEXT: b = 2\n") == "");
  CHECK(run("# CHECK: a = 1\n# CHECK-NEXT: c = 3\n") != "");
  CHECK(run("# CHECK: b = 2\n# CHECK: a = 1\n") != ""); // order matters
  CHECK(run("# CHECK: a\n# CHECK-NOT: b\n# CHECK: c\n") != "");
  CHECK(run("# CHECK: a\n# CHECK-NOT: z\n# CHECK: c\n") == "");
  CHECK(run("# CHECK: c\n# CHECK-NOT: a\n") == ""); // only after the last match
  CHECK(run("# CHECK: kernel k_add_{{[0-9a-f]+}}(x)\n") == "");
  CHECK(run("# CHECK: kernel k_mul_{{[0-9a-f]+}}(x)\n") != "");
  std::string rewritten = kt::rewrite_checks("# RUN: x\n# CHECK: old\n%0 = y\n", out);
  CHECK(rewritten.find(
            "# CHECK: a = 1\n# CHECK-NEXT: b = 2\n# CHECK-NEXT: kernel k_add_{{[0-9a-f]+}}(x)") !=
        std::string::npos);
  CHECK(rewritten.find("old") == std::string::npos);
  CHECK(kt::match_checks(kt::read_golden(rewritten).checks, out) == "");
}
