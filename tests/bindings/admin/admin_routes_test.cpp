// admin_routes over a real server and socket: its own routes only when
// configured, everything else to the next handler or 404 (the management
// endpoints on a listener of their own).

#define BOOST_TEST_MODULE bindings_admin
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bindings/admin/admin_routes.hpp"
#include "bindings/admin/dashboard.hpp"
#include "bindings/http/server.hpp"
#include "tests/support/http_client.hpp"

using namespace cartd;

namespace {

/// The next handler: answers every request "next" under route "/{next}".
class next_handler : public http::handler {
public:
  std::string_view handle(caf::io::broker*, http::request&&,
                          http::responder reply) override {
    http::response res;
    res.body = R"({"from":"next"})";
    reply(std::move(res));
    return "/{next}";
  }
};

struct config : caf::actor_system_config {
  config() { load<caf::io::middleman>(); }
};

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::actor server;
  uint16_t port = 0;

  void start(admin_settings settings, std::shared_ptr<http::handler> next) {
    http::server_config server_cfg;
    server_cfg.port = 0;
    auto handler =
        std::make_shared<admin_routes>(std::move(settings), std::move(next));
    auto result = http::spawn_server(sys, server_cfg, handler, port);
    BOOST_REQUIRE(result);
    server = *result;
  }

  test::http_response call(const std::string& method, const std::string& path) {
    return test::http_call(port, method, path, {});
  }

  ~fixture() {
    if (server)
      caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  }
};

/// A cart that answers a crash request with its view ("c1", version 3),
/// or after `crashes` is set, with the error a crashed cart answers.
cart_actor::behavior_type fake_cart(cart_actor::pointer self,
                                    std::shared_ptr<int> crashes) {
  auto view = [] {
    cart_view result;
    result.id = "c1";
    result.version = 3;
    return result;
  };
  return {
      [view](caf::get_atom, const std::string&) { return view(); },
      [view](const cart_mutation&) { return view(); },
      [self, view, crashes](crash_atom) -> caf::result<cart_view> {
        if (*crashes < 0)
          return view();
        ++*crashes;
        return make_error(cart_errc::crashed, "injected fault");
      },
      [view](watch_atom, const cart_watcher_actor&, const std::string&) {
        return view();
      },
  };
}

/// Resolves every cart to `cart`, counting the ids it was asked for.
cart_directory_actor::behavior_type
fake_directory(cart_actor cart, std::shared_ptr<std::string> asked) {
  return {
      [cart, asked](resolve_atom, const std::string& id) {
        *asked += id + ";";
        return cart;
      },
  };
}

admin_settings with_metrics_and_openapi() {
  admin_settings settings;
  settings.metrics = [](std::string& out) { out += "up 1\n"; };
  settings.openapi_json = R"({"openapi":"3.1.0"})";
  return settings;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(admin_routes_tests, fixture)

BOOST_AUTO_TEST_CASE(configured_routes_are_served_and_others_go_to_next) {
  start(with_metrics_and_openapi(), std::make_shared<next_handler>());
  auto metrics = call("GET", "/metrics");
  BOOST_TEST(metrics.result_int() == 200u);
  BOOST_TEST(metrics.body() == "up 1\n");
  BOOST_TEST(metrics[boost::beast::http::field::content_type] ==
             "text/plain; version=0.0.4; charset=utf-8");
  auto openapi = call("GET", "/openapi.json");
  BOOST_TEST(openapi.result_int() == 200u);
  BOOST_TEST(openapi.body() == R"({"openapi":"3.1.0"})");
  // Another method on a management path: 405 here, not the next handler's.
  auto post = call("POST", "/metrics");
  BOOST_TEST(post.result_int() == 405u);
  BOOST_TEST(post[boost::beast::http::field::allow] == "GET, HEAD");
  BOOST_TEST(call("GET", "/carts/c1").body() == R"({"from":"next"})");
  // Not configured (no router: one node): the next handler's.
  BOOST_TEST(call("GET", "/cluster").body() == R"({"from":"next"})");
}

BOOST_AUTO_TEST_CASE(without_a_next_handler_everything_else_is_404) {
  start(with_metrics_and_openapi(), nullptr);
  BOOST_TEST(call("GET", "/metrics").result_int() == 200u);
  auto cart = call("GET", "/carts/c1");
  BOOST_TEST(cart.result_int() == 404u);
  BOOST_TEST(cart.body().find("not_found") != std::string::npos);
  BOOST_TEST(call("GET", "/health").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(unconfigured_routes_are_not_served) {
  start(admin_settings{}, nullptr);
  BOOST_TEST(call("GET", "/metrics").result_int() == 404u);
  BOOST_TEST(call("GET", "/openapi.json").result_int() == 404u);
  BOOST_TEST(call("GET", "/cluster").result_int() == 404u);
  BOOST_TEST(call("GET", "/dashboard").result_int() == 404u);
}

BOOST_AUTO_TEST_CASE(the_crash_route_is_served_only_with_fault_injection) {
  auto crashes = std::make_shared<int>(-1);
  auto asked = std::make_shared<std::string>();
  auto cart = sys.spawn(fake_cart, crashes);
  auto directory = sys.spawn(fake_directory, cart, asked);
  admin_settings settings;
  settings.carts = directory;
  settings.fault_injection = true;
  start(settings, std::make_shared<next_handler>());
  // The cart's answer, rendered as a cart; the id percent-decoded.
  auto res = call("POST", "/debug/carts/c%311/crash");
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(res.body().find(R"("id":"c1")") != std::string::npos, res.body());
  BOOST_TEST(*asked == "c11;");
  // What a crashed cart answers: 500 crashed.
  *crashes = 0;
  res = call("POST", "/debug/carts/c1/crash");
  BOOST_TEST(res.result_int() == 500u);
  BOOST_TEST(res.body().find(R"("error":"crashed")") != std::string::npos,
             res.body());
  BOOST_TEST(*crashes == 1);
  BOOST_TEST(call("GET", "/debug/carts/c1/crash").result_int() == 405u);
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
  server = nullptr;
  // Without fault injection the path is not a management route.
  settings.fault_injection = false;
  start(settings, std::make_shared<next_handler>());
  BOOST_TEST(call("POST", "/debug/carts/c1/crash").body() ==
             R"({"from":"next"})");
  BOOST_TEST(*crashes == 1);
  caf::anon_send_exit(cart, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(the_dashboard_is_the_embedded_page_as_html) {
  admin_settings settings;
  settings.dashboard = dashboard_page();
  start(settings, nullptr);
  auto res = call("GET", "/dashboard");
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(res[boost::beast::http::field::content_type] ==
             "text/html; charset=utf-8");
  BOOST_TEST(res[boost::beast::http::field::cache_control] == "no-store");
  // Byte for byte bindings/admin/dashboard.html (embedded at build time).
  BOOST_TEST(res.body() == std::string{dashboard_page()});
  BOOST_TEST(res.body().rfind("<!doctype html>", 0) == 0u);
  BOOST_TEST(res.body().find("</html>") != std::string::npos);
  BOOST_TEST(call("HEAD", "/dashboard").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(without_a_next_handler_ready_names_the_failing_check) {
  auto check = std::make_shared<std::string>("journal");
  admin_settings settings;
  settings.failing_check = [check] { return *check; };
  start(settings, nullptr);
  auto res = call("GET", "/ready");
  BOOST_TEST(res.result_int() == 503u);
  BOOST_TEST(res.body().find(R"("check":"journal")") != std::string::npos,
             res.body());
  *check = "cluster lease";
  res = call("GET", "/ready");
  BOOST_TEST(res.result_int() == 503u);
  BOOST_TEST(res.body().find(R"("check":"cluster lease")") != std::string::npos,
             res.body());
  check->clear();
  BOOST_TEST(call("GET", "/ready").result_int() == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
