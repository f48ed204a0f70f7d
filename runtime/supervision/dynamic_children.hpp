#pragma once

// Internal to runtime/supervision: the table of a supervisor's dynamic
// children (not part of the interface in supervisor.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>

namespace cartd::supervision::detail {

using time_point = caf::actor_clock::time_point;

/// The dynamic children of one supervisor. A cart shard may hold hundreds of
/// thousands, so the bookkeeping per child is kept small: one slot per child
/// in a vector (no allocation per child; freed slots are reused) and two
/// open-addressing indexes of slot numbers, by child id and by the actor id
/// of the child's current incarnation. About 40 B per child plus 2 x 4 B
/// per index cell (load factor 3/8 to 3/4), where a node-based map per key
/// costs about 150 B. Slot numbers stay valid while other children are
/// added or removed; references into the table do not.
class dynamic_children {
public:
  using slot = uint32_t;

  /// No slot.
  static constexpr slot none = std::numeric_limits<slot>::max();

  size_t size() const noexcept { return by_id_.size(); }

  bool empty() const noexcept { return size() == 0; }

  /// The slot of the child `id`, or `none`.
  slot find(const std::string& id) const {
    return by_id_.find(hash(id), [&](slot x) { return slots_[x].id == id; });
  }

  /// The slot of the child whose current incarnation is `aid`, or `none`.
  slot find_by_aid(caf::actor_id aid) const {
    return by_aid_.find(hash(aid),
                        [&](slot x) { return slots_[x].handle.id() == aid; });
  }

  const std::string& id(slot x) const { return slots_[x].id; }

  /// The current incarnation; invalid between incarnations.
  const caf::actor& handle(slot x) const { return slots_[x].handle; }

  /// Restart times of the child within its window (kept aside: most
  /// children never restart).
  std::vector<time_point>& restarts(slot x) { return restarts_[x]; }

  /// Adds the child `id` (not present yet) without an incarnation.
  slot add(const std::string& id);

  /// Replaces the current incarnation of `x` (`handle` may be invalid).
  void set_handle(slot x, caf::actor handle);

  /// Removes the child in `x`.
  void remove(slot x);

  /// Calls `f(slot)` for every child.
  template <class F>
  void for_each(F f) const {
    by_id_.for_each(f);
  }

  /// Removes all children and frees the memory.
  void clear();

private:
  struct entry {
    std::string id;
    caf::actor handle;
  };

  /// A set of slot numbers: linear probing, backward-shift deletion (no
  /// tombstones), at most 3/4 full. Keys live in the slots; callers pass
  /// hashes and matchers.
  class index {
  public:
    size_t size() const noexcept { return size_; }

    template <class Match>
    slot find(size_t h, Match match) const {
      if (cells_.empty())
        return none;
      for (auto i = h & mask();; i = (i + 1) & mask()) {
        auto x = cells_[i];
        if (x == none || match(x))
          return x;
      }
    }

    template <class HashOf>
    void insert(slot x, size_t h, HashOf hash_of) {
      if ((size_ + 1) * 4 > cells_.size() * 3) {
        std::vector<slot> old(std::max<size_t>(cells_.size() * 2, 16), none);
        old.swap(cells_);
        for (auto y : old)
          if (y != none)
            place(y, hash_of(y));
      }
      place(x, h);
      ++size_;
    }

    template <class HashOf>
    void erase(slot x, size_t h, HashOf hash_of) {
      auto i = h & mask();
      while (cells_[i] != x)
        i = (i + 1) & mask();
      // Shift back later cells of the probe sequence that may not sit past
      // the hole.
      for (auto j = (i + 1) & mask(); cells_[j] != none; j = (j + 1) & mask()) {
        auto home = hash_of(cells_[j]) & mask();
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
          cells_[i] = cells_[j];
          i = j;
        }
      }
      cells_[i] = none;
      --size_;
    }

    template <class F>
    void for_each(F& f) const {
      for (auto x : cells_)
        if (x != none)
          f(x);
    }

    void clear() {
      std::vector<slot>{}.swap(cells_);
      size_ = 0;
    }

  private:
    size_t mask() const noexcept { return cells_.size() - 1; }

    void place(slot x, size_t h) {
      auto i = h & mask();
      while (cells_[i] != none)
        i = (i + 1) & mask();
      cells_[i] = x;
    }

    std::vector<slot> cells_;
    size_t size_ = 0;
  };

  static size_t hash(const std::string& id) {
    return std::hash<std::string>{}(id);
  }

  static size_t hash(caf::actor_id aid) {
    // Actor ids are consecutive numbers: spread them.
    uint64_t h = aid * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h ^ (h >> 32));
  }

  size_t hash_of_id(slot x) const { return hash(slots_[x].id); }

  size_t hash_of_aid(slot x) const { return hash(slots_[x].handle.id()); }

  std::vector<entry> slots_;
  std::vector<slot> free_;
  std::unordered_map<slot, std::vector<time_point>> restarts_;
  index by_id_;
  index by_aid_;
};

} // namespace cartd::supervision::detail
