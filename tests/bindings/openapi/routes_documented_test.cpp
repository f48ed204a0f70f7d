// The OpenAPI document embedded in cartd (docs/openapi.yaml) against the
// route tables cartd registers: every (method, path template) a handler
// serves is an operation of the document and every operation is served by
// some handler. (tests/e2e's openapi_contract checks the responses of a
// running node against the document.)

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "bindings/admin/admin_routes.hpp"
#include "bindings/cart_http/cart_routes.hpp"
#include "bindings/openapi/openapi_document.hpp"

using namespace cartd;

namespace {

using route = std::pair<std::string, std::string>; // method, template
using route_set = std::set<route>;

const nlohmann::json& document() {
  static const auto doc = nlohmann::json::parse(openapi_document());
  return doc;
}

/// Every operation of the document.
route_set documented() {
  static const char* methods[] = {"get",     "put",  "post",  "delete",
                                  "options", "head", "patch", "trace"};
  route_set result;
  for (auto& [path, item] : document().at("paths").items())
    for (auto method : methods)
      if (item.contains(method)) {
        std::string upper = method;
        for (auto& c : upper)
          c = static_cast<char>(c - 'a' + 'A');
        result.emplace(upper, path);
      }
  return result;
}

/// The routes of the cart handler (it has no optional routes).
route_set cart_route_set() {
  cart_routes routes{cart_router_actor{}, cart_routes_settings{}};
  auto list = routes.route_list();
  return {list.begin(), list.end()};
}

// A router that refuses everything: only whether one is set matters here.
cart_router_actor::behavior_type refusing_router() {
  auto no = [] { return caf::make_error(caf::sec::invalid_argument); };
  return {
      [no](resolve_atom, const std::string&,
           const std::string&) -> caf::result<cart_actor> { return no(); },
      [no](resolve_atom, const std::string&) -> caf::result<cart_actor> {
        return no();
      },
      [no](route_atom, const std::string&,
           const std::string&) -> caf::result<cart_actor> { return no(); },
      [](subscribe_atom, const caf::actor&, const std::string&) {},
      [no](caf::get_atom, cluster_atom) -> caf::result<cluster_state> {
        return no();
      },
      [](leave_atom) { return true; },
  };
}

/// The management routes with every provider set (a cluster node: the
/// router; fault injection: the crash route).
route_set admin_route_set() {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  admin_settings settings;
  settings.metrics = [](std::string&) {};
  settings.openapi_json = openapi_document();
  settings.dashboard = "<!doctype html>";
  settings.router = sys.spawn(refusing_router);
  settings.carts = caf::actor_cast<cart_directory_actor>(settings.router);
  settings.fault_injection = true;
  route_set result;
  {
    admin_routes routes{settings, nullptr};
    auto list = routes.route_list();
    result.insert(list.begin(), list.end());
  }
  caf::anon_send_exit(settings.router, caf::exit_reason::user_shutdown);
  return result;
}

/// The HTTP server's own routes (bindings/http/server.cpp, serve_builtin):
/// no handler sees them.
route_set builtin_route_set() {
  return {{"GET", "/health"}, {"GET", "/ready"}};
}

/// Every route cartd can register.
route_set registered() {
  route_set result = builtin_route_set();
  for (auto& x : cart_route_set())
    result.insert(x);
  for (auto& x : admin_route_set())
    result.insert(x);
  return result;
}

std::string to_string(const route_set& xs) {
  std::string result;
  for (auto& [method, path] : xs)
    result += "\n  " + method + " " + path;
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_embedded_document_is_openapi_3_1_json) {
  BOOST_TEST(document().at("openapi").get<std::string>().rfind("3.1.", 0) ==
             0u);
  BOOST_TEST(document().at("paths").is_object());
}

BOOST_AUTO_TEST_CASE(the_handlers_list_what_they_serve) {
  // route_list is what the rest of this suite trusts: it names the
  // templates and methods the route tables were built with (whichever
  // handler serves a route), and optional routes only when configured.
  auto all = registered();
  for (route x :
       {route{"GET", "/carts/{cart}"}, route{"DELETE", "/cart/{item}"},
        route{"POST", "/debug/carts/{cart}/crash"}, route{"GET", "/cluster"},
        route{"GET", "/metrics"}, route{"GET", "/openapi.json"},
        route{"GET", "/ready"}})
    BOOST_TEST(all.count(x) == 1u, x.first << " " << x.second);
  // The fault injection is a management route (bindings/admin).
  for (auto& x : cart_route_set())
    BOOST_TEST(x.second.rfind("/debug/", 0) != 0u);
  admin_routes none{admin_settings{}, nullptr};
  BOOST_TEST(none.route_list().empty());
}

BOOST_AUTO_TEST_CASE(every_registered_route_is_documented) {
  auto docs = documented();
  route_set missing;
  for (auto& x : registered())
    if (docs.count(x) == 0)
      missing.insert(x);
  BOOST_TEST(missing.empty(),
             "routes cartd serves that docs/openapi.yaml does not list:"
                 << to_string(missing));
}

BOOST_AUTO_TEST_CASE(every_documented_operation_is_served) {
  auto served = registered();
  route_set extra;
  for (auto& x : documented())
    if (served.count(x) == 0)
      extra.insert(x);
  BOOST_TEST(extra.empty(),
             "operations docs/openapi.yaml lists that no route serves:"
                 << to_string(extra));
}
