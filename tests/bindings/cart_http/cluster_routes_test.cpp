// The cart routes in cluster mode, served by the real HTTP server over a
// fake router and a fake cart in one actor system (cluster_routes_fixture):
//
//   test client ──HTTP──► server broker (cart_routes over the router)
//                            │ resolve            │ cart requests
//                            ▼                    ▼
//                         fake router ──────► fake cart (local)
//
// What needs two nodes (remote carts, peer_down) is covered by the e2e
// cluster suite; the registry behind it by peer_requests_test.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "bindings/admin/admin_routes.hpp"
#include "bindings/cart_http/cart_routes.hpp"
#include "bindings/http/server.hpp"
#include "tests/support/http_client.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

/// The request ids the fake router and cart were sent, in order.
struct seen_ids {
  std::mutex mtx;
  std::vector<std::string> router;
  std::vector<std::string> cart;

  void add(std::vector<std::string>& to, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    to.push_back(id);
  }

  std::vector<std::string> of(const std::vector<std::string>& x) {
    std::lock_guard<std::mutex> guard{mtx};
    return x;
  }
};

struct fake_cart_state {
  uint64_t version = 0;
};

/// A cart that counts its changes.
cart_actor::behavior_type
fake_cart(cart_actor::stateful_pointer<fake_cart_state> self,
          std::shared_ptr<seen_ids> seen) {
  auto view = [self] {
    cart_view result;
    result.id = "c1";
    result.version = self->state.version;
    result.incarnation = 7;
    return result;
  };
  return {
      [view, seen](caf::get_atom, const std::string& id) {
        seen->add(seen->cart, id);
        return view();
      },
      [self, view, seen](const cart_mutation& m) {
        seen->add(seen->cart, m.request_id);
        ++self->state.version;
        return view();
      },
      [view](crash_atom) { return view(); },
      [view, seen](watch_atom, const cart_watcher_actor&,
                   const std::string& id) {
        seen->add(seen->cart, id);
        return view();
      },
  };
}

/// A router resolving every cart to `cart`, showing a one-member cluster.
cart_router_actor::behavior_type fake_router(cart_actor cart,
                                             std::shared_ptr<seen_ids> seen) {
  return {
      [cart, seen](resolve_atom, const std::string&, const std::string& id) {
        seen->add(seen->router, id);
        return cart;
      },
      [cart](resolve_atom, const std::string&) { return cart; },
      [cart](route_atom, const std::string&, const std::string&) {
        return cart;
      },
      [](subscribe_atom, const caf::actor&, const std::string&) {},
      [](caf::get_atom, cluster_atom) {
        cluster_state result;
        result.self = "a";
        result.view = 2;
        cluster_member_state m;
        m.member.name = "a";
        m.member.http = "127.0.0.1:1";
        m.member.cluster = "127.0.0.1:2";
        m.reachable = true;
        result.members.push_back(m);
        return result;
      },
      [](leave_atom) { return true; },
  };
}

struct config : caf::actor_system_config {
  config() { load<caf::io::middleman>(); }
};

struct cluster_routes_fixture {
  config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<cluster_lease> lease = std::make_shared<cluster_lease>();
  std::shared_ptr<seen_ids> seen = std::make_shared<seen_ids>();
  cart_actor cart = sys.spawn(fake_cart, seen);
  cart_router_actor router = sys.spawn(fake_router, cart, seen);
  caf::actor server;
  uint16_t port = 0;

  /// Serves the routes in cluster mode (`clustered`) or over the router as
  /// a plain directory (one node).
  void start(bool clustered) {
    cart_routes_settings settings;
    settings.node_name = "a";
    settings.lease = lease;
    http::server_config server_cfg;
    server_cfg.port = 0;
    auto routes = clustered ? std::make_shared<cart_routes>(router, settings)
                            : std::make_shared<cart_routes>(
                                  caf::actor_cast<cart_directory_actor>(router),
                                  cart_routes_settings{});
    // As the node composes them: GET /cluster is a management endpoint.
    admin_settings admin;
    if (clustered)
      admin.router = router;
    auto handler = std::make_shared<admin_routes>(admin, routes);
    auto result = http::spawn_server(sys, server_cfg, handler, port);
    BOOST_REQUIRE(result);
    server = *result;
  }

  void grant_lease() {
    lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
  }

  test::http_response call(const std::string& method, const std::string& path,
                           const std::string& body = {}) {
    return test::http_call(port, method, path, body);
  }

  ~cluster_routes_fixture() {
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(cart, caf::exit_reason::user_shutdown);
  }
};

std::string cartd_node(const test::http_response& res) {
  auto i = res.find("Cartd-Node");
  return i == res.end() ? std::string{"(none)"} : std::string{i->value()};
}

const std::string add = R"({"item":"apple","quantity":1})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(cluster_routes, cluster_routes_fixture)

BOOST_AUTO_TEST_CASE(every_cart_response_names_the_node_that_answered) {
  start(true);
  grant_lease();
  auto res = call("POST", "/carts/c1/items", add);
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(cartd_node(res) == "a");
  // The first GET watches the local cart, the second is served from the
  // cache: both name this node.
  for (int i = 0; i < 2; ++i) {
    res = call("GET", "/carts/c1");
    BOOST_TEST(res.result_int() == 200u);
    BOOST_TEST(cartd_node(res) == "a");
  }
  // A refusal before any cart answered names no node.
  res = call("POST", "/carts/c1/items", "{");
  BOOST_TEST(res.result_int() == 400u);
  BOOST_TEST(cartd_node(res) == "(none)");
}

BOOST_AUTO_TEST_CASE(the_request_id_goes_to_the_router_and_to_the_cart) {
  start(true);
  grant_lease();
  auto got = test::http_call(port, "GET", "/carts/c1", {},
                             {{"X-Request-Id", "rid-get"}});
  BOOST_TEST(got.result_int() == 200u);
  // The cart's handle is cached now: the change goes to the cart only.
  auto added = test::http_call(port, "POST", "/carts/c1/items", add,
                               {{"X-Request-Id", "rid-add"}});
  BOOST_TEST(added.result_int() == 200u);
  BOOST_TEST(seen->of(seen->router) == std::vector<std::string>{"rid-get"});
  BOOST_TEST(seen->of(seen->cart) ==
             (std::vector<std::string>{"rid-get", "rid-add"}));
}

BOOST_AUTO_TEST_CASE(without_a_valid_lease_cart_requests_get_503) {
  start(true);
  // Never granted.
  auto res = call("POST", "/carts/c1/items", add);
  BOOST_TEST(res.result_int() == 503u);
  BOOST_TEST(res.body().find("no valid cluster lease") != std::string::npos,
             res.body());
  auto ready = call("GET", "/ready");
  BOOST_TEST(ready.result_int() == 503u);
  BOOST_TEST(ready.body().find(R"("check":"cluster lease")") !=
                 std::string::npos,
             ready.body());
  // Granted: served; the GET's copy is cached.
  grant_lease();
  BOOST_TEST(call("POST", "/carts/c1/items", add).result_int() == 200u);
  BOOST_TEST(call("GET", "/carts/c1").result_int() == 200u);
  BOOST_TEST(call("GET", "/ready").result_int() == 200u);
  // Revoked: even the cached copy is not served.
  lease->revoke();
  BOOST_TEST(call("GET", "/carts/c1").result_int() == 503u);
  // GET /cluster still answers (it tells an operator why).
  BOOST_TEST(call("GET", "/cluster").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(get_cluster_renders_the_routers_view) {
  start(true);
  auto res = call("GET", "/cluster");
  BOOST_REQUIRE(res.result_int() == 200u);
  auto body = nlohmann::json::parse(res.body());
  BOOST_TEST(body["self"] == "a");
  BOOST_TEST(body["view"] == 2);
  BOOST_TEST(body["members"][0]["status"] == "up");
}

BOOST_AUTO_TEST_CASE(one_node_mode_adds_no_header_and_no_cluster_route) {
  start(false);
  auto res = call("POST", "/carts/c1/items", add);
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(cartd_node(res) == "(none)");
  BOOST_TEST(cartd_node(call("GET", "/carts/c1")) == "(none)");
  BOOST_TEST(call("GET", "/cluster").result_int() == 404u);
}

BOOST_AUTO_TEST_SUITE_END()
