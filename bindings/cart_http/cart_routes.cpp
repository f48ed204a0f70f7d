#include "bindings/cart_http/cart_routes.hpp"

#include <optional>
#include <string_view>

#include <caf/actor_cast.hpp>
#include <caf/duration.hpp>
#include <caf/exit_reason.hpp>
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

/// The 503 of a cart request while this node holds no valid lease.
http::response no_lease_reply() {
  return error_reply(cart_errc::unavailable,
                     "this node holds no valid cluster lease");
}

/// Whether a request may be sent again when its node went down before it
/// answered: anything but a change without an Idempotency-Key (it might
/// have been applied; re-sending it could apply it twice).
template <class... Ts>
bool resendable(const Ts&...) {
  return true;
}

bool resendable(const cart_mutation& m) {
  return !m.idempotency_key.empty();
}

/// The cart's actor is gone: re-resolve and try again.
bool receiver_gone(const caf::error& err) {
  return err == caf::sec::request_receiver_down ||
         err == caf::exit_reason::remote_link_unreachable;
}

http::response message_reply(const char* text) {
  http::response result;
  result.body = json{{"message", text}}.dump();
  return result;
}

/// Marks `res` as the repeated answer of an Idempotency-Key's first
/// request when `view` is one.
http::response mark_replay(http::response res, const cart_view& view) {
  if (view.replayed)
    res.headers.emplace_back("Idempotent-Replayed", "true");
  return res;
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
}

cart_routes::cart_routes(cart_router_actor router,
                         cart_routes_settings settings)
    : cart_routes(caf::actor_cast<cart_directory_actor>(router),
                  std::move(settings)) {
  // The router answers the directory's resolve message.
  router_ = std::move(router);
}

bool cart_routes::lease_valid() const noexcept {
  return settings_.lease == nullptr || settings_.lease->valid();
}

std::string cart_routes::name_of(const caf::node_id& node) const {
  auto i = names_.find(node);
  return i != names_.end() ? i->second : to_string(node);
}

std::vector<std::pair<std::string, std::string>>
cart_routes::route_list() const {
  std::vector<std::pair<std::string, std::string>> result;
  for (auto& r : routes_.routes()) {
    auto name = bhttp::to_string(r.method);
    result.emplace_back(std::string{name.data(), name.size()}, r.pattern);
  }
  return result;
}

http::response cart_routes::timeout_response() const {
  return error_reply(cart_errc::timeout);
}

bool cart_routes::ready() const {
  return failing_check().empty();
}

std::string cart_routes::failing_check() const {
  return failing_check_of(settings_);
}

std::string failing_check_of(const cart_routes_settings& settings) {
  if (settings.stopping != nullptr &&
      settings.stopping->load(std::memory_order_relaxed))
    return "draining";
  if (settings.journal_available != nullptr &&
      !settings.journal_available->load(std::memory_order_relaxed))
    return "journal";
  if (settings.lease != nullptr && !settings.lease->valid())
    return "cluster lease";
  return {};
}

caf::message_handler cart_routes::messages(caf::io::broker*) {
  return {
      [this](changed_atom, const cart_view& view) { cache_.on_changed(view); },
      [this](gone_atom, const std::string& id, uint64_t incarnation) {
        cache_.on_gone(id, incarnation);
      },
      // Cluster mode: the router's pushes.
      [this](view_atom, const cluster_state& state) {
        names_.clear();
        for (auto& x : state.members)
          if (x.node)
            names_.emplace(x.node, x.member.name);
      },
      [this](peer_down_atom, const caf::node_id& node) {
        // Handles of that node's carts are dead; requests in flight there
        // are never answered: route them again now.
        cache_.forget_if(
            [&node](const cart_actor& cart) { return cart.node() == node; });
        peers_.on_peer_down(node);
      },
  };
}

void cart_routes::on_down(caf::io::broker*, const caf::down_msg& dm) {
  if (monitored_.erase(dm.source) == 0)
    return;
  cache_.forget_if(
      [&dm](const cart_actor& cart) { return cart.address() == dm.source; });
  peers_.on_target_down(dm.source);
}

template <class OnView, class... Ts>
void cart_routes::ask_cluster(caf::io::broker* self, const std::string& id,
                              int attempt, bool watch, OnView on_view,
                              http::responder reply,
                              std::shared_ptr<cluster_call> cluster, Ts... xs) {
  if (!lease_valid()) {
    cache_.clear();
    reply(no_lease_reply());
    return;
  }
  if (auto cart = cache_.handle(id)) {
    send_cluster(self, *cart, id, attempt, watch, on_view, reply, cluster,
                 xs...);
    return;
  }
  self->request(router_, settings_.request_timeout, resolve_atom::value, id,
                cluster->request_id)
      .then(
          [=](cart_actor& cart) {
            cache_.remember(id, cart);
            send_cluster(self, cart, id, attempt, watch, on_view, reply,
                         cluster, xs...);
          },
          [reply](caf::error& err) { reply(error_reply(to_cart_errc(err))); });
}

template <class OnView, class... Ts>
void cart_routes::send_cluster(caf::io::broker* self, const cart_actor& cart,
                               const std::string& id, int attempt, bool watch,
                               OnView on_view, http::responder reply,
                               std::shared_ptr<cluster_call> cluster,
                               Ts... xs) {
  auto node = cart.node();
  bool local = node == self->node();
  uint64_t token = 0;
  if (!local) {
    if (auto& m = settings_.metrics; m && m->cluster_forwarded)
      m->cluster_forwarded->inc();
    // CAF drops what is sent through the proxy of a remote actor that
    // ended; its down_msg is the only word of it.
    if (monitored_.insert(cart.address()).second)
      self->monitor(cart);
    bool resend = resendable(xs...);
    token = peers_.track(node, cart.address(), [=] {
      if (resend) {
        ask_cluster(self, id, attempt, watch, on_view, reply, cluster, xs...);
      } else {
        // It may have been applied before the node went down.
        reply(error_reply(cart_errc::timeout));
      }
    });
  }
  auto on_reply = [=](cart_view& view) {
    if (!local && !peers_.settle(token))
      return; // routed again meanwhile; that request answers
    cluster->answered_by = local ? settings_.node_name : name_of(node);
    if (local && watch)
      cache_.on_watched(cart, view);
    else
      cache_.on_view(cart, view);
    on_view(view);
  };
  auto on_error = [=](caf::error& err) {
    if (!local && !peers_.settle(token))
      return;
    auto code = to_cart_errc(err);
    if (status_for(code) >= 500)
      cache_.forget(id);
    if (receiver_gone(err) && attempt + 1 < max_attempts) {
      ask_cluster(self, id, attempt + 1, watch, on_view, reply, cluster, xs...);
      return;
    }
    if (err.category() == caf::atom("cart"))
      cluster->answered_by = local ? settings_.node_name : name_of(node);
    reply(error_reply(code));
  };
  // A local cart always answers (or dies: request_receiver_down); a request
  // to another node is never answered if that node dies or freezes.
  auto timeout = local ? caf::duration{caf::infinite}
                       : caf::duration{settings_.request_timeout};
  if (watch && !local)
    self->request(cart, timeout, caf::get_atom::value, cluster->request_id)
        .then(std::move(on_reply), std::move(on_error));
  else
    self->request(cart, timeout, xs...)
        .then(std::move(on_reply), std::move(on_error));
}

template <class OnView, class... Ts>
void cart_routes::ask_cart(caf::io::broker* self, const std::string& id,
                           int attempt, bool watch, OnView on_view,
                           http::responder reply,
                           std::shared_ptr<cluster_call> cluster, Ts... xs) {
  if (clustered()) {
    ask_cluster(self, id, attempt, watch, on_view, reply, std::move(cluster),
                xs...);
    return;
  }
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
                ask_cart(self, id, attempt + 1, watch, on_view, reply, nullptr,
                         xs...);
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

std::string_view cart_routes::handle(caf::io::broker* self, http::request&& req,
                                     http::responder reply) {
  auto path = split_path(req.path());
  auto found = routes_.find(req.msg.method(), path);
  if (found.hit == nullptr) {
    if (found.allow.empty())
      reply(not_found());
    else
      reply(method_not_allowed(std::move(found.allow)));
    return {};
  }
  std::string_view route = found.hit->pattern;
  std::shared_ptr<cluster_call> cluster;
  if (clustered()) {
    if (!lease_valid()) {
      cache_.clear();
      reply(no_lease_reply());
      return route;
    }
    // Cartd-Node: the node whose cart answered (set once it did).
    cluster = std::make_shared<cluster_call>();
    cluster->request_id = req.request_id;
    reply = [inner = std::move(reply), cluster](http::response res) {
      if (!cluster->answered_by.empty())
        res.headers.emplace_back("Cartd-Node", cluster->answered_by);
      inner(std::move(res));
    };
  }
  call c{self, req, reply, {}, {}, cluster};
  for (auto& p : found.hit->placeholders) {
    if (p.name == "cart") {
      auto id = decode_cart_id(path[p.index]);
      if (!id) {
        reply(error_reply(cart_errc::invalid_cart_id));
        return route;
      }
      c.cart = std::move(*id);
    } else {
      auto id = decode_item_id(path[p.index]);
      if (!id) {
        reply(error_reply(cart_errc::invalid_item_id));
        return route;
      }
      c.item = std::move(*id);
    }
  }
  (this->*found.hit->handler)(c);
  return route;
}

// -- routes -------------------------------------------------------------------

namespace {

/// The seed service's cart.
const std::string seed_cart = "default";

} // namespace

void cart_routes::mutate(call& c, cart_mutation m) {
  m.request_id = c.req.request_id;
  if (auto err = read_if_match(c.req, m))
    return c.reply(std::move(*err));
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  auto as_cart = [this, reply = c.reply](cart_view& view) {
    reply(mark_replay(cache_.render(view), view));
  };
  ask_cart(c.self, c.cart, 0, false, as_cart, c.reply, c.cluster, std::move(m));
}

void cart_routes::get_cart(call& c) {
  if (auto copy = cache_.find(c.cart)) {
    if (c.cluster)
      c.cluster->answered_by =
          settings_.node_name; // only local carts are cached
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
  ask_cart(c.self, c.cart, 0, true, as_cart, c.reply, c.cluster,
           watch_atom::value, caf::actor_cast<cart_watcher_actor>(c.self),
           c.req.request_id);
}

void cart_routes::clear_cart(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::clear_cart;
  mutate(c, std::move(m));
}

void cart_routes::add_item(call& c) {
  auto parsed = parse_json_body(c.req, {"item", "quantity"});
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
  auto parsed = parse_json_body(c.req, {"quantity"});
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
  ask_cart(c.self, seed_cart, 0, false, as_map, c.reply, c.cluster,
           caf::get_atom::value, c.req.request_id);
}

void cart_routes::seed_add(call& c) {
  // The seed API takes no If-Match and always adds one unit.
  auto parsed = parse_json_body(c.req, {"item"});
  if (parsed.error)
    return c.reply(std::move(*parsed.error));
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.quantity = 1;
  if (auto err = read_item(parsed.body, m.item))
    return c.reply(std::move(*err));
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  m.request_id = c.req.request_id;
  auto added = [reply = c.reply](cart_view& view) {
    reply(mark_replay(message_reply("Added to cart"), view));
  };
  ask_cart(c.self, seed_cart, 0, false, added, c.reply, c.cluster,
           std::move(m));
}

void cart_routes::seed_remove(call& c) {
  cart_mutation m;
  m.kind = mutation_kind::remove_one_unit;
  m.item = std::move(c.item);
  if (auto err = read_idempotency_key(c.req, m))
    return c.reply(std::move(*err));
  m.request_id = c.req.request_id;
  auto removed = [reply = c.reply](cart_view& view) {
    reply(mark_replay(message_reply("Removed from cart"), view));
  };
  ask_cart(c.self, seed_cart, 0, false, removed, c.reply, c.cluster,
           std::move(m));
}

} // namespace cartd
