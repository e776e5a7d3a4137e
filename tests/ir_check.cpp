// The golden-test matcher (see ir_check.h); patterns match anywhere in a line, spaces trimmed.
#include "ir_check.h"

#include <fstream>
#include <regex>
#include <sstream>

namespace kt {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string regex_escape(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

bool matches(const std::string& pattern, const std::string& line) {
  if (pattern.find("{{") == std::string::npos) return line.find(pattern) != std::string::npos;
  std::string re;
  size_t pos = 0;
  while (pos < pattern.size()) {
    size_t open = pattern.find("{{", pos);
    if (open == std::string::npos) {
      re += regex_escape(pattern.substr(pos));
      break;
    }
    size_t close = pattern.find("}}", open + 2);
    if (close == std::string::npos) close = pattern.size();
    re += regex_escape(pattern.substr(pos, open - pos)) + "(" +
          pattern.substr(open + 2, close - open - 2) + ")";
    pos = close + 2;
  }
  return std::regex_search(line, std::regex(re));
}

} // namespace

GoldenFile read_golden(const std::string& text) {
  GoldenFile g;
  auto lines = lines_of(text);
  static const std::regex directive(R"(^\s*#\s*(RUN|CHECK|CHECK-NEXT|CHECK-NOT):(.*)$)");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, directive)) continue;
    std::string kind = m[1], body = trim(m[2]);
    if (kind == "RUN") {
      std::istringstream words(body);
      for (std::string w; words >> w;) g.run_args.push_back(w);
      continue;
    }
    CheckLine::Kind k = kind == "CHECK"        ? CheckLine::Check
                        : kind == "CHECK-NEXT" ? CheckLine::Next
                                               : CheckLine::Not;
    g.checks.push_back({k, body, static_cast<int>(i) + 1});
  }
  return g;
}

std::string match_checks(const std::vector<CheckLine>& checks, const std::string& output) {
  auto out = lines_of(output);
  size_t next = 0;                    // first output line a CHECK may match
  long last = -1;                     // the line the previous positive check matched
  std::vector<const CheckLine*> nots; // CHECK-NOTs waiting for the next positive match
  auto check_nots = [&](size_t from, size_t to) -> std::string {
    for (const CheckLine* n : nots)
      for (size_t i = from; i < to && i < out.size(); ++i)
        if (matches(n->pattern, out[i]))
          return "line " + std::to_string(n->line) + ": CHECK-NOT: '" + n->pattern +
                 "' found in output line " + std::to_string(i + 1) + ": " + out[i];
    nots.clear();
    return "";
  };
  for (const CheckLine& c : checks) {
    if (c.kind == CheckLine::Not) {
      nots.push_back(&c);
      continue;
    }
    size_t found = out.size();
    if (c.kind == CheckLine::Next) {
      if (last >= 0 && static_cast<size_t>(last + 1) < out.size() &&
          matches(c.pattern, out[last + 1]))
        found = last + 1;
      if (found == out.size())
        return "line " + std::to_string(c.line) + ": CHECK-NEXT: '" + c.pattern +
               "' is not on the line after " +
               (last >= 0 ? "output line " + std::to_string(last + 1) : std::string("the start")) +
               (last >= 0 && static_cast<size_t>(last + 1) < out.size()
                    ? " (got: " + out[last + 1] + ")"
                    : "");
    } else {
      for (size_t i = next; i < out.size() && found == out.size(); ++i)
        if (matches(c.pattern, out[i])) found = i;
      if (found == out.size())
        return "line " + std::to_string(c.line) + ": CHECK: '" + c.pattern + "' not found";
    }
    if (std::string err = check_nots(next, found); !err.empty()) return err;
    last = static_cast<long>(found);
    next = found + 1;
  }
  return check_nots(next, out.size());
}

std::string rewrite_checks(const std::string& text, const std::string& output) {
  static const std::regex positive(R"(^\s*#\s*(CHECK|CHECK-NEXT):.*$)");
  static const std::regex kernel_hash(R"(\b(k(?:_[a-z0-9]+)*)_[0-9a-f]{6}\b)");
  std::string generated;
  bool first = true;
  for (const std::string& l : lines_of(output)) {
    if (trim(l).empty()) { // a blank line cannot be matched: the next line starts a new CHECK
      first = true;
      continue;
    }
    std::string p = std::regex_replace(trim(l), kernel_hash, "$1_{{[0-9a-f]+}}");
    generated += std::string(first ? "# CHECK: " : "# CHECK-NEXT: ") + p + "\n";
    first = false;
  }
  std::string out;
  bool placed = false;
  for (const std::string& l : lines_of(text)) {
    if (std::regex_match(l, positive)) {
      if (!placed) out += generated;
      placed = true;
      continue;
    }
    out += l + "\n";
  }
  if (!placed) out = generated + out;
  return out;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace kt
