#include "runtime/cluster/cluster.hpp"

#include <algorithm>

namespace cartd {

const char* to_string(member_status x) noexcept {
  switch (x) {
  case member_status::up:
    return "up";
  case member_status::leaving:
    return "leaving";
  }
  return "up";
}

std::vector<std::string> cluster_view::owners() const {
  std::vector<std::string> result;
  for (const auto& m : members)
    if (m.status == member_status::up)
      result.push_back(m.name);
  return result;
}

bool cluster_view::settled() const noexcept {
  return std::all_of(
      members.begin(), members.end(),
      [this](const cluster_member& m) { return m.view_seen >= number; });
}

const cluster_member* cluster_view::find(std::string_view name) const noexcept {
  for (const auto& m : members)
    if (m.name == name)
      return &m;
  return nullptr;
}

} // namespace cartd
