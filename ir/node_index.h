// NodeIndex: numbers nodes densely in the order they are first seen (an open-addressing table).
// Graph walks over millions of nodes spent most of their time in std::unordered_map's per-entry
// allocations; this table allocates only when it doubles.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace kiln {

struct Node;

class NodeIndex {
public:
  // n's number, and whether n was new (then it gets the next number).
  std::pair<uint32_t, bool> insert(const Node* n) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    size_t i = slot(n);
    if (slots_[i].node == n) return {slots_[i].index, false};
    slots_[i] = {n, count_};
    return {count_++, true};
  }
  // n's number, or -1 when it was never inserted.
  int64_t find(const Node* n) const {
    if (slots_.empty()) return -1;
    const Slot& s = slots_[slot(n)];
    return s.node == n ? static_cast<int64_t>(s.index) : -1; // not uint32_t(-1)
  }
  uint32_t size() const { return count_; }

private:
  struct Slot {
    const Node* node = nullptr;
    uint32_t index = 0;
  };
  // The slot holding n, or the empty slot where it would go.
  size_t slot(const Node* n) const {
    size_t mask = slots_.size() - 1;
    size_t i = (reinterpret_cast<uintptr_t>(n) >> 4) * 0x9e3779b97f4a7c15ull >> 20 & mask;
    while (slots_[i].node && slots_[i].node != n) i = (i + 1) & mask;
    return i;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.node) slots_[slot(s.node)] = s;
  }
  std::vector<Slot> slots_;
  uint32_t count_ = 0;
};

} // namespace kiln
