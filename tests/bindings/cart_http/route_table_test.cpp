#include "bindings/cart_http/route_table.hpp"

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

using namespace cartd;
using verb = boost::beast::http::verb;

namespace {

// The cart API's table, with the route's name as its handler.
struct table_fixture {
  route_table<std::string> table;

  table_fixture() {
    table.add(verb::get, "/carts/{cart}", "get");
    table.add(verb::delete_, "/carts/{cart}", "clear");
    table.add(verb::post, "/carts/{cart}/items", "add");
    table.add(verb::put, "/carts/{cart}/items/{item}", "set");
    table.add(verb::delete_, "/carts/{cart}/items/{item}", "remove");
    table.add(verb::post, "/carts/{cart}/checkout", "checkout");
    table.add(verb::get, "/cart", "seed_get");
    table.add(verb::post, "/cart", "seed_add");
    table.add(verb::delete_, "/cart/{item}", "seed_remove");
  }

  /// The handler `method path` takes, "404" or "405 <allow>".
  std::string route(verb method, std::string_view path) {
    auto found = table.find(method, split_path(path));
    if (found.hit != nullptr)
      return found.hit->handler;
    if (found.allow.empty())
      return "404";
    return "405 " + found.allow;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(route_table_tests, table_fixture)

BOOST_AUTO_TEST_CASE(each_method_and_path_takes_its_route) {
  BOOST_TEST(route(verb::get, "/carts/c1") == "get");
  BOOST_TEST(route(verb::delete_, "/carts/c1") == "clear");
  BOOST_TEST(route(verb::post, "/carts/c1/items") == "add");
  BOOST_TEST(route(verb::put, "/carts/c1/items/apple") == "set");
  BOOST_TEST(route(verb::delete_, "/carts/c1/items/apple") == "remove");
  BOOST_TEST(route(verb::post, "/carts/c1/checkout") == "checkout");
  BOOST_TEST(route(verb::get, "/cart") == "seed_get");
  BOOST_TEST(route(verb::post, "/cart") == "seed_add");
  BOOST_TEST(route(verb::delete_, "/cart/apple") == "seed_remove");
  // A literal segment may look like another route's literal.
  BOOST_TEST(route(verb::post, "/carts/items/items") == "add");
  BOOST_TEST(route(verb::post, "/carts/checkout/checkout") == "checkout");
}

BOOST_AUTO_TEST_CASE(placeholders_match_any_segment_even_an_empty_one) {
  BOOST_TEST(route(verb::get, "/carts/") == "get");
  BOOST_TEST(route(verb::post, "/carts//items") == "add");
  BOOST_TEST(route(verb::delete_, "/cart/") == "seed_remove");
}

BOOST_AUTO_TEST_CASE(a_path_no_route_has_is_not_found) {
  for (auto path : {"/", "", "/carts", "/carts/c1/item", "/carts/c1/items/a/b",
                    "/carts/c1/", "/cart/a/b", "/Carts/c1", "/carts/c1/%69tems",
                    "/1/2/3/4/5/6/7/8/9/10", "/debug/carts/c1/crash"})
    BOOST_TEST(route(verb::get, path) == "404", path);
}

BOOST_AUTO_TEST_CASE(a_known_path_with_another_method_lists_the_allowed_ones) {
  BOOST_TEST(route(verb::post, "/carts/c1") == "405 GET, HEAD, DELETE");
  BOOST_TEST(route(verb::put, "/carts/c1") == "405 GET, HEAD, DELETE");
  BOOST_TEST(route(verb::get, "/carts/c1/items") == "405 POST");
  BOOST_TEST(route(verb::post, "/carts/c1/items/a") == "405 PUT, DELETE");
  BOOST_TEST(route(verb::delete_, "/carts/c1/checkout") == "405 POST");
  BOOST_TEST(route(verb::delete_, "/cart") == "405 GET, HEAD, POST");
  BOOST_TEST(route(verb::get, "/cart/a") == "405 DELETE");
  BOOST_TEST(route(verb::options, "/cart/a") == "405 DELETE");
}

BOOST_AUTO_TEST_CASE(placeholders_name_their_segments_in_order) {
  auto path = split_path("/carts/c%31/items/a%20b");
  auto found = table.find(verb::put, path);
  BOOST_REQUIRE(found.hit != nullptr);
  auto& ps = found.hit->placeholders;
  BOOST_REQUIRE_EQUAL(ps.size(), 2u);
  BOOST_TEST(ps[0].name == "cart");
  BOOST_TEST(path[ps[0].index] == "c%31"); // decoding is the caller's
  BOOST_TEST(ps[1].name == "item");
  BOOST_TEST(path[ps[1].index] == "a%20b");
  auto seed = table.find(verb::delete_, split_path("/cart/x"));
  BOOST_REQUIRE(seed.hit != nullptr);
  BOOST_REQUIRE_EQUAL(seed.hit->placeholders.size(), 1u);
  BOOST_TEST(seed.hit->placeholders[0].name == "item");
  BOOST_TEST(seed.hit->placeholders[0].index == 1u);
}

BOOST_AUTO_TEST_CASE(routes_added_later_only_widen_the_table) {
  table.add(verb::post, "/debug/carts/{cart}/crash", "crash");
  BOOST_TEST(route(verb::post, "/debug/carts/c1/crash") == "crash");
  BOOST_TEST(route(verb::get, "/debug/carts/c1/crash") == "405 POST");
  BOOST_TEST(route(verb::get, "/carts/c1") == "get");
}

BOOST_AUTO_TEST_SUITE_END()
