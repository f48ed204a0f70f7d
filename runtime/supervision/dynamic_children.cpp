#include "runtime/supervision/dynamic_children.hpp"

#include <stdexcept>
#include <utility>

namespace cartd::supervision::detail {

dynamic_children::slot dynamic_children::add(const std::string& id) {
  slot x;
  if (!free_.empty()) {
    x = free_.back();
    free_.pop_back();
    slots_[x].id = id;
  } else {
    if (slots_.size() >= none)
      throw std::length_error("too many dynamic children");
    x = static_cast<slot>(slots_.size());
    slots_.push_back(entry{id, {}});
  }
  by_id_.insert(x, hash(id), [this](slot y) { return hash_of_id(y); });
  return x;
}

void dynamic_children::set_handle(slot x, caf::actor handle) {
  auto hash_of = [this](slot y) { return hash_of_aid(y); };
  auto& e = slots_[x];
  if (e.handle)
    by_aid_.erase(x, hash(e.handle.id()), hash_of);
  e.handle = std::move(handle);
  if (e.handle)
    by_aid_.insert(x, hash(e.handle.id()), hash_of);
}

void dynamic_children::remove(slot x) {
  set_handle(x, nullptr);
  auto& e = slots_[x];
  by_id_.erase(x, hash(e.id), [this](slot y) { return hash_of_id(y); });
  std::string{}.swap(e.id);
  restarts_.erase(x);
  free_.push_back(x);
}

void dynamic_children::clear() {
  std::vector<entry>{}.swap(slots_);
  std::vector<slot>{}.swap(free_);
  restarts_.clear();
  by_id_.clear();
  by_aid_.clear();
}

} // namespace cartd::supervision::detail
