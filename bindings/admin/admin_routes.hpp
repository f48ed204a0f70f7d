#pragma once

// The management endpoints as an http::handler, as Akka Management keeps
// them: what an operator or a monitoring system reads, not what a shop's
// clients call.
//
//   GET  /cluster                  the cluster as this node's router sees it
//                                  (cluster mode; cluster_json.hpp)
//   GET  /metrics                  Prometheus text exposition (when a
//                                  provider is set)
//   GET  /openapi.json             the REST API's OpenAPI document (when set)
//   GET  /dashboard                the live dashboard, one self-contained
//                                  HTML page (dashboard.hpp; when set)
//   POST /debug/carts/{cart}/crash fault injection: the cart throws (only
//                                  with fault_injection)
//
// Every other request goes to `next` (the cart routes, when the management
// endpoints share the public port), or gets 404 when there is none (their
// own listener, --admin.port). A route is registered only when what it
// serves is configured. Without `next`, GET /ready asks `failing_check`.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/protocol/cart_router.hpp"
#include "bindings/cart_http/route_table.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

/// What the management endpoints serve; unset ones are not routed.
struct admin_settings {
  /// GET /metrics: appends the Prometheus text exposition to its argument.
  std::function<void(std::string&)> metrics;
  /// GET /openapi.json: the document (static storage).
  std::string_view openapi_json;
  /// GET /cluster: the node's cart router (cluster mode).
  cart_router_actor router;
  /// GET /dashboard: the page (static storage; dashboard_page()).
  std::string_view dashboard;
  /// POST /debug/carts/{cart}/crash is served (with `carts`).
  bool fault_injection = false;
  /// What resolves a cart id to its actor: the directory, or in cluster
  /// mode the router (it answers the directory's resolve message).
  cart_directory_actor carts;
  /// Without `next`: the failing readiness check for GET /ready ("" when
  /// ready; unset: always ready). With `next`, `next` answers.
  std::function<std::string()> failing_check;
  /// Bound of a request to the router.
  caf::timespan request_timeout = caf::timespan{std::chrono::seconds{5}};
};

class admin_routes : public http::handler {
public:
  /// Serves the management endpoints; everything else goes to `next`
  /// (nullptr: 404 with the usual error body).
  admin_routes(admin_settings settings, std::shared_ptr<http::handler> next);

  std::string_view handle(caf::io::broker* self, http::request&& req,
                          http::responder reply) override;

  // Delegated to `next` (the defaults without one).
  bool ready() const override;
  std::string failing_check() const override;
  http::response timeout_response() const override;
  caf::message_handler messages(caf::io::broker* self) override;
  void on_down(caf::io::broker* self, const caf::down_msg& dm) override;

  /// The routes served here (not `next`'s), as cart_routes::route_list.
  std::vector<std::pair<std::string, std::string>> route_list() const;

private:
  struct call {
    caf::io::broker* self;
    http::request& req;
    http::responder& reply;
    /// The decoded `{cart}` of the path, if it has one.
    std::string cart;
  };

  using route_handler = void (admin_routes::*)(call&);

  void get_cluster(call& c);
  void get_metrics(call& c);
  void get_openapi(call& c);
  void get_dashboard(call& c);
  void crash(call& c);

  // Resolves cart `id` and asks it to crash; a handle that died meanwhile
  // (passivated, restarted) is resolved again a bounded number of times.
  void crash_cart(caf::io::broker* self, std::string id, int attempt,
                  http::responder reply);

  admin_settings settings_;
  std::shared_ptr<http::handler> next_;
  route_table<route_handler> routes_;
};

} // namespace cartd
