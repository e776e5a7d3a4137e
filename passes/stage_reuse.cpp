#include "passes/stage_reuse.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace kiln {
namespace {

// Structural classes of the instructions inside stage loops: two instructions are in one class
// when they compute the same value at the same iteration of their (equal) stage loops. Operands
// outside the stage loops are the same value only when they are the same instruction.
class StageClasses {
public:
  StageClasses(const Kernel& k, const std::vector<Placement>& place) : k_(k), place_(place) {
    cls_.assign(k.insts.size(), -1);
    for (size_t i = 0; i < k.insts.size(); ++i)
      if (place_[i].loop >= 0 && !is_reduce(k.insts[i].op)) cls_[i] = classify(static_cast<int>(i));
  }
  int of(int i) const { return cls_[i]; }

private:
  using Key =
      std::tuple<Op, DType, int64_t, uint64_t, int64_t, std::vector<int64_t>, int, int, int>;
  int classify(int i) {
    const KInst& in = k_.insts[i];
    int loop = place_[i].loop;
    auto operand = [&](int s) -> int {
      if (s < 0) return -1;
      return place_[s].loop == loop ? cls_[s] : -2 - s; // outside values: by identity
    };
    uint64_t fbits = 0; // compared as bits: NaN literals would break the map's ordering
    std::memcpy(&fbits, &in.value.f, sizeof(fbits));
    // A stage index is identified by its axis and the stage's extents, not the stage number.
    std::vector<int64_t> extents;
    if (in.op == Op::ReduceIndex) extents = concrete(k_.stages[in.stage]);
    Key key{in.op,   in.dtype,      in.imm,        fbits,        in.value.i,
            extents, operand(in.a), operand(in.b), operand(in.c)};
    auto [it, fresh] = ids_.emplace(key, static_cast<int>(ids_.size()));
    return it->second;
  }

  const Kernel& k_;
  const std::vector<Placement>& place_;
  std::vector<int> cls_;
  std::map<Key, int> ids_;
};

// Rough cost of computing each instruction inside its stage, its operands from the same stage
// counted as a tree: expensive ops 16, the rest 1; capped at `cap`.
std::vector<int> stage_costs(const Kernel& k, const std::vector<Placement>& place, int cap) {
  std::vector<int> c(k.insts.size(), 0);
  for (size_t i = 0; i < k.insts.size(); ++i) {
    const KInst& in = k.insts[i];
    c[i] = is_expensive_elementwise(in.op) ? 16 : 1;
    for (int s : {in.a, in.b, in.c})
      if (s >= 0 && place[s].loop == place[i].loop && !is_reduce(k.insts[s].op)) c[i] += c[s];
    c[i] = std::min(c[i], cap);
  }
  return c;
}

} // namespace

std::vector<StageReuse> find_stage_reuse(const Kernel& k, int64_t max_bytes) {
  for (auto& s : k.stages) // a buffer holds one stage's values: of a concrete size only
    if (any_symbolic(s)) return {};
  const int worth = 16; // one expensive op at least: a store and a load cost a few cheap ones
  auto place = k.placements();
  StageClasses classes(k, place);
  std::vector<int> cost = stage_costs(k, place, worth);
  std::map<int, int> first; // class -> its instruction in the earliest stage
  for (size_t i = 0; i < k.insts.size(); ++i)
    if (classes.of(i) >= 0) {
      auto [it, fresh] = first.emplace(classes.of(i), static_cast<int>(i));
      if (!fresh && place[it->second].loop > place[i].loop) it->second = static_cast<int>(i);
    }

  std::vector<StageReuse> out;
  std::map<int, size_t> kept; // instruction -> its entry in out
  int64_t bytes = 0;
  std::vector<bool> seen(k.insts.size(), false);
  // Walks down from what a later stage needs, stopping at values an earlier stage computed.
  auto visit = [&](auto&& self, int i, int stage) -> void {
    if (i < 0 || seen[i] || place[i].loop != stage || is_reduce(k.insts[i].op)) return;
    seen[i] = true;
    const KInst& in = k.insts[i];
    int src = first.at(classes.of(i));
    if (place[src].loop < stage && in.dtype != DType::Bool && cost[i] >= worth) {
      auto it = kept.find(src);
      int64_t need = numel(k.stages[place[src].loop]) * dtype_size(in.dtype);
      if (it == kept.end() && bytes + need <= max_bytes) {
        bytes += need;
        it = kept.emplace(src, out.size()).first;
        out.push_back({src, place[src].loop, {}});
      }
      if (it != kept.end()) {
        out[it->second].replaces.push_back(i);
        return;
      }
    }
    for (int s : {in.a, in.b, in.c}) self(self, s, stage);
  };
  for (int stage = 1; stage < static_cast<int>(k.stages.size()); ++stage) {
    for (const KStore& st : k.stores)
      if (k.store_placement(st, place).loop == stage) {
        visit(visit, st.value, stage);
        visit(visit, st.index, stage);
      }
    for (const KInst& in : k.insts)
      if (is_reduce(in.op) && in.stage == stage)
        for (int s : {in.a, in.b}) visit(visit, s, stage);
  }
  return out;
}

} // namespace kiln
