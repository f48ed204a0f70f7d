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
//   POST   /debug/carts/{cart}/crash     fault injection (only when enabled)
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

#include <atomic>
#include <memory>
#include <string>

#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/cart_http/cart_json.hpp"
#include "bindings/cart_http/error_map.hpp"
#include "bindings/cart_http/read_cache.hpp"
#include "bindings/cart_http/route_table.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

/// Options of the cart routes.
struct cart_routes_settings {
  /// Serve POST /debug/carts/{cart}/crash.
  bool fault_injection = false;
  /// Most carts (handle and rendered copy) cached by the routes (0: none;
  /// every request then resolves the cart and reads go to it).
  size_t cache_size = 128 * 1024;
  /// Whether the journal can store changes now (the node passes its
  /// journal_health::available); GET /ready answers 503 while it is false.
  /// Null: the routes are always ready.
  std::shared_ptr<const std::atomic<bool>> journal_available;
};

/// The cart routes as an http::handler.
class cart_routes : public http::handler {
public:
  cart_routes(cart_directory_actor directory, cart_routes_settings settings);

  void handle(caf::io::broker* self, http::request&& req,
              http::responder reply) override;

  caf::message_handler messages(caf::io::broker* self) override;

  http::response timeout_response() const override;

  /// False while the journal is unavailable (a lost database): GET /ready
  /// answers 503 then, so a load balancer stops sending writes here. Reads
  /// of resident carts keep working.
  bool ready() const override;

private:
  /// One request on its way through a route's handler.
  struct call {
    caf::io::broker* self;
    http::request& req;
    http::responder& reply;
    /// The decoded `{cart}` and `{item}` of the path, if it has them.
    std::string cart;
    std::string item;
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
  void crash(call& c);

  // Reads If-Match and Idempotency-Key into `m` and sends it to the cart;
  // the reply renders the cart.
  void mutate(call& c, cart_mutation m);

  // Sends `xs...` to the cart `id` and hands the view to `on_view`, or
  // answers the error through `reply`. `watch`: `xs...` is a watch_atom
  // request, so its reply makes the cached copy current.
  template <class OnView, class... Ts>
  void ask_cart(caf::io::broker* self, const std::string& id, int attempt,
                bool watch, OnView on_view, http::responder reply, Ts... xs);

  cart_directory_actor directory_;
  cart_routes_settings settings_;
  route_table<route_handler> routes_;
  read_cache<cart_actor> cache_;
};

} // namespace cartd
