#pragma once

// The cart REST API on top of the generic HTTP server: a route table
// (method + path pattern -> handler) whose handlers turn decoded requests
// (request_decoding.hpp) into cart messages and cart replies into responses
// (error_map.hpp maps every cart_errc to its status).
//
//   GET    /carts/{cart}                 read
//   POST   /carts/{cart}/items           add    {"item":"apple","quantity":2}
//   PUT    /carts/{cart}/items/{item}    set    {"quantity":5}   (0 removes)
//   DELETE /carts/{cart}/items/{item}    remove the line
//   DELETE /carts/{cart}                 clear
//   POST   /carts/{cart}/checkout        check out
//   POST   /cart, DELETE /cart/{item}, GET /cart   the seed service's API,
//                                        on the cart "default"
//
// Hot path: the routes keep a bounded cache of cart id -> cart actor, so a
// change to a warm cart is one broker -> cart -> broker round trip. A stale
// handle (the cart passivated or restarted) answers request_receiver_down
// before it handled anything; the request is then re-resolved through the
// directory, a bounded number of times.
//
// Reads of a resident cart never leave the broker: the first GET watches the
// cart, and while the read cache (read_cache.hpp, which says why this is
// linearizable and why only carts of this node are ever cached) holds a
// watched copy, GET answers from it.
//
// Cluster mode (constructed over the node's cart router instead of the
// directory; docs/cluster.md, "Routing"):
//   * carts are resolved through the router (the same resolve message), which
//     answers a local cart or a proxy of the owner's; `handle.node() ==
//     self->node()` tells which. Only local carts are watched and their copies
//     cached; remote carts are read with get_atom (read_cache.hpp says why);
//   * every cart response carries `Cartd-Node: NAME`, the node whose cart
//     actor answered (names from the router's view pushes);
//   * the request's X-Request-Id goes to the router with the resolve (and
//     from there to the owner's router) and to the cart with the request,
//     so that their log lines about it, on either node, name it;
//   * requests to remote carts are tracked per node (peer_requests.hpp) and
//     routed again the moment the router reports that node down: reads and
//     keyed changes are re-sent, an unkeyed change is answered 503 "may or
//     may not have been applied"; cached handles of that node are dropped;
//   * while this node's cluster lease is not valid every cart request gets
//     503 and the cache is dropped (another node may own its carts by now);
//   * requests to the router and to remote carts are bounded by the HTTP
//     request timeout (one to a dead node is never answered); local carts
//     always answer (a reply, or request_receiver_down when they die);
//   * GET /cluster (the router's cluster_state) is a management endpoint:
//     bindings/admin, like the fault injection (POST /debug/...).

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/node_id.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/protocol/cart_router.hpp"
#include "bindings/cart_http/cart_json.hpp"
#include "bindings/cart_http/error_map.hpp"
#include "bindings/cart_http/peer_requests.hpp"
#include "bindings/cart_http/read_cache.hpp"
#include "bindings/cart_http/route_table.hpp"
#include "bindings/http/http.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace cartd {

/// Options of the cart routes.
struct cart_routes_settings {
  /// Most carts (handle and rendered copy) cached by the routes (0: none;
  /// every request then resolves the cart and reads go to it).
  size_t cache_size = 128 * 1024;
  /// Whether the journal can store changes now (the node passes its
  /// journal_health::available); GET /ready answers 503 while it is false.
  /// Null: the routes are always ready.
  std::shared_ptr<const std::atomic<bool>> journal_available;
  /// Whether the node is shutting down (set at SIGTERM, before a cluster
  /// node's graceful leave and the HTTP drain); GET /ready answers 503
  /// "draining" from then on. Null: never.
  std::shared_ptr<const std::atomic<bool>> stopping;
  /// Cluster mode: this node's name (--cluster.node).
  std::string node_name;
  /// Cluster mode: this node's lease (null: always valid).
  std::shared_ptr<const cluster_lease> lease;
  /// Cluster mode: bound of every request to the router or another node
  /// (the HTTP request timeout).
  caf::timespan request_timeout = caf::timespan{std::chrono::seconds{5}};
  /// Cluster mode: counts the requests sent to another node's carts (null:
  /// not counted).
  std::shared_ptr<metrics::node_metrics> metrics;
};

/// The readiness check that fails with `settings` now: "draining" once the
/// node is stopping, "journal" while the journal is unavailable, "cluster
/// lease" while the lease (if any) is not valid, else empty. Reads atomics
/// only: any thread may call it (the management listener's GET /ready does).
std::string failing_check_of(const cart_routes_settings& settings);

/// The cart routes as an http::handler.
class cart_routes : public http::handler {
public:
  cart_routes(cart_directory_actor directory, cart_routes_settings settings);

  /// Cluster mode: resolves carts through the node's `router` (see above).
  cart_routes(cart_router_actor router, cart_routes_settings settings);

  std::string_view handle(caf::io::broker* self, http::request&& req,
                          http::responder reply) override;

  caf::message_handler messages(caf::io::broker* self) override;

  /// Cluster mode: a remote cart this front end sent requests to ended
  /// (passivated, moved, or its node went away): its requests in flight are
  /// routed again and its cached handle dropped.
  void on_down(caf::io::broker* self, const caf::down_msg& dm) override;

  http::response timeout_response() const override;

  /// The routes this handler serves, in the order they were added: method
  /// and path template, e.g. {"GET", "/carts/{cart}"} (GET implies HEAD).
  /// docs/openapi.yaml documents each (tests/bindings/openapi checks it).
  std::vector<std::pair<std::string, std::string>> route_list() const;

  /// False while the journal is unavailable (a lost database): GET /ready
  /// answers 503 then, so a load balancer stops sending writes here. Reads
  /// of resident carts keep working.
  bool ready() const override;

  /// "draining" once the node is stopping, "journal" while the journal is
  /// unavailable, "cluster lease" while this node holds no valid lease
  /// (cluster mode), else empty.
  std::string failing_check() const override;

private:
  /// Cluster mode: what the handlers of one request share.
  struct cluster_call {
    /// The name of the node whose cart answered, which the responder sends
    /// as Cartd-Node (empty until one did).
    std::string answered_by;
    /// The request's X-Request-Id, for the router (the cart gets its own
    /// copy in its message).
    std::string request_id;
  };

  /// One request on its way through a route's handler.
  struct call {
    caf::io::broker* self;
    http::request& req;
    http::responder& reply;
    /// The decoded `{cart}` and `{item}` of the path, if it has them.
    std::string cart;
    std::string item;
    /// Cluster mode: what the request's handlers share (null in single-node
    /// mode).
    std::shared_ptr<cluster_call> cluster;
  };

  using route_handler = void (cart_routes::*)(call&);

  // -- routes (one handler per method and path) -------------------------------

  void get_cart(call& c);
  void clear_cart(call& c);
  void add_item(call& c);
  void set_item(call& c);
  void remove_item(call& c);
  void checkout(call& c);
  void seed_get(call& c);
  void seed_add(call& c);
  void seed_remove(call& c);

  // Reads If-Match and Idempotency-Key into `m` and sends it to the cart;
  // the reply renders the cart.
  void mutate(call& c, cart_mutation m);

  // Sends `xs...` to the cart `id` and hands the view to `on_view`, or
  // answers the error through `reply`. `watch`: `xs...` is a watch_atom
  // request, so its reply makes the cached copy current.
  template <class OnView, class... Ts>
  void ask_cart(caf::io::broker* self, const std::string& id, int attempt,
                bool watch, OnView on_view, http::responder reply,
                std::shared_ptr<cluster_call> cluster, Ts... xs);

  // Cluster mode: ask_cart through the router, knowing local from remote.
  // `cluster->answered_by` receives the name of the node whose cart answered
  // (the responder adds it as Cartd-Node); `cluster->request_id` goes to the
  // router with the resolve.
  template <class OnView, class... Ts>
  void ask_cluster(caf::io::broker* self, const std::string& id, int attempt,
                   bool watch, OnView on_view, http::responder reply,
                   std::shared_ptr<cluster_call> cluster, Ts... xs);

  // Cluster mode: sends `xs...` to the resolved `cart`.
  template <class OnView, class... Ts>
  void send_cluster(caf::io::broker* self, const cart_actor& cart,
                    const std::string& id, int attempt, bool watch,
                    OnView on_view, http::responder reply,
                    std::shared_ptr<cluster_call> cluster, Ts... xs);

  bool clustered() const noexcept { return router_ != nullptr; }

  // Cluster mode: whether this node may serve carts now.
  bool lease_valid() const noexcept;

  // The name of the node `node` (its CAF node id rendered when unknown).
  std::string name_of(const caf::node_id& node) const;

  cart_directory_actor directory_;
  cart_routes_settings settings_;
  route_table<route_handler> routes_;
  read_cache<cart_actor> cache_;
  // -- cluster mode -----------------------------------------------------------
  cart_router_actor router_;
  std::map<caf::node_id, std::string> names_;
  peer_requests<caf::node_id, caf::actor_addr> peers_;
  // Remote carts monitored (once each, until their down_msg).
  std::set<caf::actor_addr> monitored_;
};

} // namespace cartd
