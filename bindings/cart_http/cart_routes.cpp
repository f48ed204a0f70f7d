#include "bindings/cart_http/cart_routes.hpp"

#include <optional>
#include <string_view>

#include <caf/actor_cast.hpp>
#include <caf/io/broker.hpp>
#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include "bindings/cart_http/request_decoding.hpp"

namespace cartd {

namespace bhttp = boost::beast::http;
using json = nlohmann::ordered_json;

namespace {

/// Retries after request_receiver_down (a passivated or restarted cart).
constexpr int max_attempts = 3;

http::response method_not_allowed(std::string allow) {
  auto result = http::error_response(405, "method_not_allowed",
                                     "this route accepts " + allow);
  result.headers.emplace_back("Allow", std::move(allow));
  return result;
}

http::response not_found() {
  return http::error_response(404, "not_found", "no such route");
}

http::response message_reply(const char* text) {
  http::response result;
  result.body = json{{"message", text}}.dump();
  return result;
}

} // namespace

// -- cart_routes --------------------------------------------------------------

cart_routes::cart_routes(cart_directory_actor directory,
                         cart_routes_settings settings)
    : directory_(std::move(directory)), settings_(settings),
      cache_(settings.cache_size) {
  using verb = bhttp::verb;
  // The order of routes sharing a path is the order of their Allow header.
  routes_.add(verb::get, "/carts/{cart}", &cart_routes::get_cart);
  routes_.add(verb::delete_, "/carts/{cart}", &cart_routes::clear_cart);
  routes_.add(verb::post, "/carts/{cart}/items", &cart_routes::add_item);
  routes_.add(verb::put, "/carts/{cart}/items/{item}", &cart_routes::set_item);
  routes_.add(verb::delete_, "/carts/{cart}/items/{item}",
              &cart_routes::remove_item);
  routes_.add(verb::post, "/carts/{cart}/checkout", &cart_routes::checkout);
  // The seed service's API, on the cart "default".
  routes_.add(verb::get, "/cart", &cart_routes::seed_get);
  routes_.add(verb::post, "/cart", &cart_routes::seed_add);
  routes_.add(verb::delete_, "/cart/{item}", &cart_routes::seed_remove);
  if (settings_.fault_injection)
    routes_.add(verb::post, "/debug/carts/{cart}/crash", &cart_routes::crash);
}

http::response cart_routes::timeout_response() const {
  return error_reply(cart_errc::timeout);
}

bool cart_routes::ready() const {
  return settings_.journal_available == nullptr ||
         settings_.journal_available->load(std::memory_order_relaxed);
}

caf::message_handler cart_routes::messages(caf::io::broker*) {
  return {
      [this](changed_atom, const cart_view& view) { cache_.on_changed(view); },
      [this](gone_atom, const std::string& id, uint64_t incarnation) {
        cache_.on_gone(id, incarnation);
      },
  };
}

template <class OnView, class... Ts>
void cart_routes::ask_cart(caf::io::broker* self, const std::string& id,
                           int attempt, bool watch, OnView on_view,
                           http::responder reply, Ts... xs) {
  auto send = [this, self, id, attempt, watch, on_view, reply,
               xs...](const cart_actor& cart) {
    self->request(cart, caf::infinite, xs...)
        .then(
            [this, cart, watch, on_view](cart_view& view) {
              if (watch)
                cache_.on_watched(cart, view);
              else
                cache_.on_view(cart, view);
              on_view(view);
            },
            [this, self, id, attempt, watch, on_view, reply,
             xs...](caf::error& err) {
              auto code = to_cart_errc(err);
              // A refused change (4xx) says nothing about the cached copy.
              if (status_for(code) >= 500)
                cache_.forget(id);
              if (err == caf::sec::request_receiver_down &&
                  attempt + 1 < max_attempts) {
                ask_cart(self, id, attempt + 1, watch, on_view, reply, xs...);
                return;
              }
              reply(error_reply(code));
            });
  };
  if (auto cart = cache_.handle(id)) {
    send(*cart);
    return;
  }
  self->request(directory_, caf::infinite, resolve_atom::value, id)
      .then(
          [this, id, send](cart_actor& cart) {
            cache_.remember(id, cart);
            send(cart);
          },
          [reply](caf::error& err) { reply(error_reply(to_cart_errc(err))); });
}

void cart_routes::handle(caf::io::broker* self, http::request&& req,
                         http::responder reply) {
  auto path = split_path(req.path());
  auto found = routes_.find(req.msg.method(), path);
  if (found.hit == nullptr) {
    if (found.allow.empty())
      return reply(not_found());
    return reply(method_not_allowed(std::move(found.allow)));
  }
  call c{self, req, reply, {}, {}};
  for (auto& p : found.hit->placeholders) {
    if (p.name == "cart") {
      auto id = decode_cart_id(path[p.index]);
      if (!id)
        return reply(error_reply(cart_errc::invalid_cart_id));
      c.cart = std::move(*id);
    } else {
      auto id = decode_item_id(path[p.index]);
      if (!id)
        return reply(error_reply(cart_errc::invalid_item_id));
      c.item = std::move(*id);
    }
  }
  (this->*found.hit->handler)(c);
}

// -- routes -------------------------------------------------------------------

namespace {

/// The seed service's cart.
const std::string seed_cart = "default";

} // namespace

void cart_routes::mutate(call& c, cart_mutation m) {
  if (auto err = read_if_match(c.req, m))
    return c.reply(std::move(*err));
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  auto as_cart = [this, reply = c.reply](cart_view& view) {
    reply(cache_.render(view));
  };
  ask_cart(c.self, c.cart, 0, false, as_cart, c.reply, std::move(m));
}

void cart_routes::get_cart(call& c) {
  if (auto copy = cache_.find(c.cart)) {
    http::response res;
    res.body = copy->body;
    res.headers.emplace_back("ETag", copy->etag);
    return c.reply(std::move(res));
  }
  auto as_cart = [this, reply = c.reply](cart_view& view) {
    reply(cache_.render(view));
  };
  // A GET that misses the cache watches the cart: its copy is then kept
  // current here.
  ask_cart(c.self, c.cart, 0, true, as_cart, c.reply, watch_atom::value,
           caf::actor_cast<cart_watcher_actor>(c.self));
}

void cart_routes::clear_cart(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::clear_cart;
  mutate(c, std::move(m));
}

void cart_routes::add_item(call& c) {
  auto parsed = parse_json_body(c.req);
  if (parsed.error)
    return c.reply(std::move(*parsed.error));
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  if (auto err = read_item(parsed.body, m.item))
    return c.reply(std::move(*err));
  std::optional<int64_t> quantity;
  if (auto err = read_quantity(parsed.body, "quantity", quantity))
    return c.reply(std::move(*err));
  m.quantity = quantity.value_or(1);
  mutate(c, std::move(m));
}

void cart_routes::set_item(call& c) {
  auto parsed = parse_json_body(c.req);
  if (parsed.error)
    return c.reply(std::move(*parsed.error));
  std::optional<int64_t> quantity;
  if (auto err = read_quantity(parsed.body, "quantity", quantity))
    return c.reply(std::move(*err));
  if (!quantity)
    return c.reply(
        http::error_response(400, "invalid_field", "\"quantity\" is required"));
  cart_mutation m;
  m.kind = mutation_kind::set_item_quantity;
  m.item = std::move(c.item);
  m.quantity = *quantity;
  mutate(c, std::move(m));
}

void cart_routes::remove_item(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::remove_item;
  m.item = std::move(c.item);
  mutate(c, std::move(m));
}

void cart_routes::checkout(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::checkout;
  mutate(c, std::move(m));
}

void cart_routes::seed_get(call& c) {
  auto as_map = [reply = c.reply](cart_view& view) {
    json body = json::object();
    for (auto& line : view.lines)
      body[line.item] = line.quantity;
    http::response res;
    res.body = body.dump();
    reply(std::move(res));
  };
  ask_cart(c.self, seed_cart, 0, false, as_map, c.reply, caf::get_atom::value);
}

void cart_routes::seed_add(call& c) {
  // The seed API takes no If-Match and always adds one unit.
  auto parsed = parse_json_body(c.req);
  if (parsed.error)
    return c.reply(std::move(*parsed.error));
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.quantity = 1;
  if (auto err = read_item(parsed.body, m.item))
    return c.reply(std::move(*err));
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  auto added = [reply = c.reply](cart_view&) {
    reply(message_reply("Added to cart"));
  };
  ask_cart(c.self, seed_cart, 0, false, added, c.reply, std::move(m));
}

void cart_routes::seed_remove(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::remove_one_unit;
  m.item = std::move(c.item);
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  auto removed = [reply = c.reply](cart_view&) {
    reply(message_reply("Removed from cart"));
  };
  ask_cart(c.self, seed_cart, 0, false, removed, c.reply, std::move(m));
}

void cart_routes::crash(call& c) {
  auto as_cart = [this, reply = c.reply](cart_view& view) {
    reply(cache_.render(view));
  };
  ask_cart(c.self, c.cart, 0, false, as_cart, c.reply, crash_atom::value);
}

} // namespace cartd
