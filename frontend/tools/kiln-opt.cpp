// kiln-opt: the compiler from the command line. IR text in, passes, any later stage out.
#include "tools/opt_driver.h"

#include "ir/error.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc), files;
    bool help = false;
    kiln::opt::Request r = kiln::opt::parse_args(args, files, help);
    if (help) {
      std::cout << kiln::opt::help_text();
      return 0;
    }
    if (files.size() > 1) throw kiln::Error("[kiln-opt] one input file at most (see --help)");
    std::stringstream text;
    if (files.empty() || files[0] == "-")
      text << std::cin.rdbuf();
    else {
      std::ifstream in(files[0], std::ios::binary);
      if (!in) throw kiln::Error("[kiln-opt] cannot open " + files[0]);
      text << in.rdbuf();
      r.source_name = files[0];
    }
    kiln::opt::Result res = kiln::opt::run(text.str(), r);
    std::cerr << res.log;
    std::cout << res.out;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kiln-opt: " << e.what() << "\n";
    return 1;
  }
}
