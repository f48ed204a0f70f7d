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
// cart (watch_atom), which from then on pushes every stored change here
// before it replies to the request that made it, and says gone_atom when it
// passivates, crashes or is killed. While the cache holds such a watched copy
// it is the cart's last acknowledged state, so GET answers from it at once
// (reads stay linearizable on this node: a change is acknowledged only after
// its push arrived). Copies of other incarnations are never served: every
// view names the incarnation that produced it (cart_view::incarnation), and
// the cache learns its handle's incarnation from the first reply to a
// request sent through that handle.

#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/cart_http/error_map.hpp"
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
};

/// Renders a cart as JSON (with its ETag header).
http::response cart_reply(const cart_view& view);

/// The cart routes as an http::handler.
class cart_routes : public http::handler {
public:
  cart_routes(cart_directory_actor directory, cart_routes_settings settings);

  void handle(caf::io::broker* self, http::request&& req,
              http::responder reply) override;

  caf::message_handler messages(caf::io::broker* self) override;

  http::response timeout_response() const override;

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

  void remember(const std::string& id, const cart_actor& cart);

  // Drops one cached cart, picked at random, to make room for a new one. A
  // full cache used to drop every copy at once: at the default 131,072
  // copies that stalled the I/O thread for milliseconds and sent every hot
  // cart's next GET back to its actor. (The dropped cart's pushes are then
  // ignored until a GET watches it again.)
  void evict_one();

  void forget(const std::string& id);

  // Takes `view` into the cache if it is from the incarnation the cache
  // holds for its cart and newer than the cached copy. `asked`: the handle a
  // reply came through (nullptr for a push); the first reply through the
  // cached handle tells the cache that handle's incarnation. `watched`: it
  // is a watch reply or a pushed change, so the copy is current from now on.
  void learn(const cart_view& view, const cart_actor* asked, bool watched);

  // Renders `view`, reusing the body rendered last time for the same cart
  // and version (a hot cart is rendered once per change, not per read).
  http::response render_cart(const cart_view& view);

  struct cache_entry {
    cart_actor handle;
    /// The incarnation behind `handle` (0: no reply through it yet).
    uint64_t incarnation = 0;
    /// A watched copy: `body` is the cart's current state.
    bool current = false;
    uint64_t version = 0;
    std::string body; // empty: nothing rendered yet
    std::string etag;
  };

  cart_directory_actor directory_;
  cart_routes_settings settings_;
  route_table<route_handler> routes_;
  std::unordered_map<std::string, cache_entry> cache_;
  std::minstd_rand random_;
};

} // namespace cartd
