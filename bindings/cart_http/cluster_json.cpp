#include "bindings/cart_http/cluster_json.hpp"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace cartd {

std::string rfc3339_utc(int64_t ms) {
  auto secs = ms / 1000;
  auto millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

const char* status_name(const cluster_member_state& x) noexcept {
  if (x.member.lapsed)
    return "lapsed";
  if (x.member.status == member_status::leaving)
    return "leaving";
  if (!x.reachable)
    return "unreachable";
  return "up";
}

std::string cluster_json(const cluster_state& state) {
  using json = nlohmann::ordered_json;
  auto members = json::array();
  for (auto& x : state.members)
    members.push_back({{"name", x.member.name},
                       {"http", x.member.http},
                       {"cluster", x.member.cluster},
                       {"status", status_name(x)},
                       {"since", rfc3339_utc(x.member.since_ms)}});
  json body{{"self", state.self},
            {"view", state.view},
            {"members", std::move(members)}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace cartd
