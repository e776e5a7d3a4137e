// Module state: named parameters and buffers saved as safetensors, and loaded with every
// entry checked before any is assigned.
#include "kiln/io.h"

#include "io_file.h"

#include <fmt/format.h>
#include <map>

namespace kiln::io {
namespace {

std::string list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 8; ++i)
    s += (i ? ", " : "") + ("\"" + names[i] + "\"");
  if (names.size() > 8) s += fmt::format(" and {} more", names.size() - 8);
  return s;
}

void check_and_load(nn::Module& m, const nn::NamedTensors& state, bool strict,
                    const std::string& source) {
  std::map<std::string, const Tensor*> given;
  for (auto& [name, t] : state) given[name] = &t;
  nn::NamedTensors targets = state_dict(m);
  std::vector<std::string> missing, unexpected, problems;
  std::map<std::string, bool> wanted;
  for (auto& [name, t] : targets) {
    wanted[name] = true;
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& v = *it->second;
    if (v.shape() != t.shape() || v.dtype() != t.dtype())
      problems.push_back(fmt::format("\"{}\" is {}{} in {} but {}{} in the module", name,
                                     dtype_name(v.dtype()), shape_str(v.shape()), source,
                                     dtype_name(t.dtype()), shape_str(t.shape())));
  }
  for (auto& [name, t] : state)
    if (!wanted.count(name)) unexpected.push_back(name);
  if (!missing.empty()) problems.push_back(fmt::format("{} lacks {}", source, list(missing)));
  if (strict && !unexpected.empty())
    problems.push_back(fmt::format("the module has no {}", list(unexpected)));
  if (!problems.empty()) {
    std::string msg = "[load_state] nothing loaded: ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw Error(msg);
  }
  // All checked: now assign. The new values are plain buffers (leaves), so parameters stay
  // leaves that require grad, and every handle (an optimizer's included) sees them.
  for (auto& [name, t] : targets) {
    Tensor v = given.at(name)->realize().detach();
    t.assign(v);
  }
}

} // namespace

nn::NamedTensors state_dict(const nn::Module& m) {
  nn::NamedTensors out = m.named_parameters(true, /*remove_duplicate=*/false);
  for (auto& b : m.named_buffers(true, false)) out.push_back(b);
  return out;
}

void save_state(const nn::Module& m, const std::string& path, Loc loc) {
  save_safetensors(path, state_dict(m), {}, loc);
}

void load_state(nn::Module& m, const nn::NamedTensors& state, bool strict,
                const std::string& source, Loc loc) {
  detail::at_caller(loc, [&] { check_and_load(m, state, strict, source); });
}

void load_state(nn::Module& m, const std::string& path, bool strict, Loc loc) {
  load_state(m, load_safetensors(path, nullptr, loc), strict, path, loc);
}

} // namespace kiln::io
