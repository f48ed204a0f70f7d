#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "bindings/cart_http/cart_routes.hpp"

using namespace cartd;

namespace {

// What nlohmann renders for the same cart: the reference for cart_reply.
nlohmann::ordered_json reference(const cart_view& view) {
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (auto& line : view.lines)
    items.push_back({{"item", line.item}, {"quantity", line.quantity}});
  return {{"id", view.id},
          {"items", items},
          {"total_quantity", view.total_quantity},
          {"checked_out", view.checked_out},
          {"version", view.version}};
}

void check_renders_like_nlohmann(const cart_view& view) {
  auto reply = cart_reply(view);
  BOOST_CHECK_EQUAL(reply.status, 200u);
  BOOST_CHECK_EQUAL(reply.body, reference(view).dump());
  auto parsed = nlohmann::ordered_json::parse(reply.body);
  BOOST_CHECK(parsed == reference(view));
  BOOST_REQUIRE_EQUAL(reply.headers.size(), 1u);
  BOOST_CHECK_EQUAL(reply.headers[0].first, "ETag");
  BOOST_CHECK_EQUAL(reply.headers[0].second,
                    "\"" + std::to_string(view.version) + "\"");
}

} // namespace

BOOST_AUTO_TEST_CASE(an_empty_cart_renders_like_the_documented_shape) {
  cart_view view;
  view.id = "c1";
  auto reply = cart_reply(view);
  BOOST_CHECK_EQUAL(reply.body, R"({"id":"c1","items":[],"total_quantity":0,)"
                                R"("checked_out":false,"version":0})");
  check_renders_like_nlohmann(view);
}

BOOST_AUTO_TEST_CASE(item_ids_that_need_escaping_render_as_valid_json) {
  cart_view view;
  view.id = "c-2.x~";
  view.lines = {{"a \"quoted\" \\ item", 2},
                {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac", 1000000000},
                {"slash/and\ttab", 1}};
  view.total_quantity = 1000000003;
  view.checked_out = true;
  view.version = 18446744073709551615u;
  check_renders_like_nlohmann(view);
}
