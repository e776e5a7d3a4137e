#include "runtime/config.h"

#include <cstdlib>

namespace kiln {

bool Options::dumps(const std::string& stage) const {
  size_t start = 0;
  while (start <= dump.size()) {
    size_t end = dump.find(',', start);
    if (end == std::string::npos) end = dump.size();
    if (dump.compare(start, end - start, stage) == 0 || dump.compare(start, end - start, "all") == 0) return true;
    start = end + 1;
  }
  return false;
}

Options& options() {
  static Options o = [] {
    Options x;
    if (const char* s = std::getenv("KILN_DUMP")) x.dump = s;
    if (const char* s = std::getenv("KILN_DUMP_DIR")) x.dump_dir = s;
    if (!x.dump_dir.empty() && x.dump.empty()) x.dump = "graph,passes,kernels"; // a folder asks for dumps
    if (const char* s = std::getenv("KILN_FUSION")) x.fusion = std::string(s) != "0";
    if (const char* s = std::getenv("KILN_SIMPLIFY")) x.simplify = std::string(s) != "0";
    if (const char* s = std::getenv("KILN_DYNAMIC")) x.dynamic = std::string(s) != "0";
    if (const char* s = std::getenv("KILN_BACKEND")) x.backend = s;
    if (const char* s = std::getenv("KILN_DEVICE")) x.device = parse_device(s);
    if (const char* s = std::getenv("KILN_CHECK_ROUNDTRIP")) x.check_roundtrip = std::string(s) == "1";
    return x;
  }();
  return o;
}

} // namespace kiln
