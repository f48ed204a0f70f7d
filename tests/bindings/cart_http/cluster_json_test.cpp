#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "bindings/cart_http/cluster_json.hpp"

using namespace cartd;

namespace {

cluster_member_state member(std::string name, bool reachable) {
  cluster_member_state result;
  result.member.name = std::move(name);
  result.member.http = "127.0.0.1:8081";
  result.member.cluster = "127.0.0.1:7071";
  result.reachable = reachable;
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(since_is_rfc3339_in_utc_with_milliseconds) {
  BOOST_TEST(rfc3339_utc(0) == "1970-01-01T00:00:00.000Z");
  // 2026-11-27T19:54:15.123Z
  BOOST_TEST(rfc3339_utc(1795809255123) == "2026-11-27T19:54:15.123Z");
  BOOST_TEST(rfc3339_utc(-1) == "1969-12-31T23:59:59.999Z");
}

BOOST_AUTO_TEST_CASE(member_status_names_the_worst_that_applies) {
  auto x = member("a", true);
  BOOST_TEST(status_name(x) == std::string{"up"});
  x.reachable = false;
  BOOST_TEST(status_name(x) == std::string{"unreachable"});
  x.member.status = member_status::leaving;
  BOOST_TEST(status_name(x) == std::string{"leaving"});
  x.member.lapsed = true;
  BOOST_TEST(status_name(x) == std::string{"lapsed"});
}

BOOST_AUTO_TEST_CASE(cluster_json_has_self_view_and_every_member) {
  cluster_state state;
  state.self = "a";
  state.view = 7;
  state.members.push_back(member("a", true));
  state.members.push_back(member("b", false));
  state.members.back().member.since_ms = 1000;
  auto body = nlohmann::json::parse(cluster_json(state));
  BOOST_TEST(body["self"] == "a");
  BOOST_TEST(body["view"] == 7);
  BOOST_REQUIRE(body["members"].size() == 2u);
  auto& b = body["members"][1];
  BOOST_TEST(b["name"] == "b");
  BOOST_TEST(b["http"] == "127.0.0.1:8081");
  BOOST_TEST(b["cluster"] == "127.0.0.1:7071");
  BOOST_TEST(b["status"] == "unreachable");
  BOOST_TEST(b["since"] == "1970-01-01T00:00:01.000Z");
  BOOST_TEST(body["members"][0]["status"] == "up");
}
