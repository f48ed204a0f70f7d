#include "bindings/cart_http/cart_routes.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

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

// -- free functions -----------------------------------------------------------

namespace {

// Appends `str` as a JSON string. nlohmann does the escaping; only the
// cart's fixed shape is written here (building an nlohmann object tree for
// it cost ~20k instructions per cart, most of a mutation's rendering).
void append_json_string(std::string& out, const std::string& str) {
  out +=
      nlohmann::json(str).dump(-1, ' ', false, json::error_handler_t::replace);
}

template <class T>
void append_number(std::string& out, T x) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x);
  static_cast<void>(ec); // 24 bytes hold every 64-bit integer
  out.append(buf, end);
}

} // namespace

http::response cart_reply(const cart_view& view) {
  http::response result;
  auto& out = result.body;
  out.reserve(96 + view.lines.size() * 40);
  out += "{\"id\":";
  append_json_string(out, view.id);
  out += ",\"items\":[";
  for (size_t i = 0; i < view.lines.size(); ++i) {
    if (i > 0)
      out += ',';
    out += "{\"item\":";
    append_json_string(out, view.lines[i].item);
    out += ",\"quantity\":";
    append_number(out, view.lines[i].quantity);
    out += '}';
  }
  out += "],\"total_quantity\":";
  append_number(out, view.total_quantity);
  out += view.checked_out ? ",\"checked_out\":true" : ",\"checked_out\":false";
  out += ",\"version\":";
  append_number(out, view.version);
  out += '}';
  std::string etag = "\"";
  append_number(etag, view.version);
  etag += '"';
  result.headers.emplace_back("ETag", std::move(etag));
  return result;
}

// -- cart_routes --------------------------------------------------------------

cart_routes::cart_routes(cart_directory_actor directory,
                         cart_routes_settings settings)
    : directory_(std::move(directory)), settings_(settings) {
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

void cart_routes::remember(const std::string& id, const cart_actor& cart) {
  if (settings_.cache_size == 0)
    return;
  if (cache_.size() >= settings_.cache_size && cache_.count(id) == 0)
    evict_one();
  cache_entry entry;
  entry.handle = cart;
  cache_.insert_or_assign(id, std::move(entry));
}

void cart_routes::evict_one() {
  // A random bucket's first entry: the buckets are at most as many as twice
  // the entries, so a few draws find a full one.
  auto buckets = cache_.bucket_count();
  for (;;) {
    auto b = static_cast<size_t>(random_()) % buckets;
    if (cache_.bucket_size(b) != 0) {
      auto key = cache_.begin(b)->first;
      cache_.erase(key);
      return;
    }
  }
}

void cart_routes::forget(const std::string& id) {
  cache_.erase(id);
}

void cart_routes::learn(const cart_view& view, const cart_actor* asked,
                        bool watched) {
  auto i = cache_.find(view.id);
  if (i == cache_.end())
    return;
  auto& entry = i->second;
  if (asked != nullptr && entry.incarnation == 0 && entry.handle == *asked)
    entry.incarnation = view.incarnation;
  if (entry.incarnation == 0 || entry.incarnation != view.incarnation)
    return;
  if (watched)
    entry.current = true;
  if (!entry.body.empty() && entry.version >= view.version)
    return;
  auto rendered = cart_reply(view);
  entry.version = view.version;
  entry.body = std::move(rendered.body);
  entry.etag = std::move(rendered.headers.front().second);
}

http::response cart_routes::render_cart(const cart_view& view) {
  auto i = cache_.find(view.id);
  if (i == cache_.end() || i->second.body.empty() ||
      i->second.version != view.version)
    return cart_reply(view);
  http::response result;
  result.body = i->second.body;
  result.headers.emplace_back("ETag", i->second.etag);
  return result;
}

http::response cart_routes::timeout_response() const {
  return error_reply(cart_errc::timeout);
}

caf::message_handler cart_routes::messages(caf::io::broker*) {
  return {
      [this](changed_atom, const cart_view& view) {
        learn(view, nullptr, true);
      },
      [this](gone_atom, const std::string& id, uint64_t incarnation) {
        auto i = cache_.find(id);
        if (i != cache_.end() && i->second.incarnation == incarnation)
          cache_.erase(i);
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
              learn(view, &cart, watch);
              on_view(view);
            },
            [this, self, id, attempt, watch, on_view, reply,
             xs...](caf::error& err) {
              auto code = to_cart_errc(err);
              // A refused change (4xx) says nothing about the cached copy.
              if (status_for(code) >= 500)
                forget(id);
              if (err == caf::sec::request_receiver_down &&
                  attempt + 1 < max_attempts) {
                ask_cart(self, id, attempt + 1, watch, on_view, reply, xs...);
                return;
              }
              reply(error_reply(code));
            });
  };
  if (auto i = cache_.find(id); i != cache_.end()) {
    send(i->second.handle);
    return;
  }
  self->request(directory_, caf::infinite, resolve_atom::value, id)
      .then(
          [this, id, send](cart_actor& cart) {
            remember(id, cart);
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
    reply(render_cart(view));
  };
  ask_cart(c.self, c.cart, 0, false, as_cart, c.reply, std::move(m));
}

void cart_routes::get_cart(call& c) {
  auto i = cache_.find(c.cart);
  if (i != cache_.end() && i->second.current) {
    http::response res;
    res.body = i->second.body;
    res.headers.emplace_back("ETag", i->second.etag);
    return c.reply(std::move(res));
  }
  auto as_cart = [this, reply = c.reply](cart_view& view) {
    reply(render_cart(view));
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
    reply(render_cart(view));
  };
  ask_cart(c.self, c.cart, 0, false, as_cart, c.reply, crash_atom::value);
}

} // namespace cartd
