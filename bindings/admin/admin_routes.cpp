#include "bindings/admin/admin_routes.hpp"

#include <caf/duration.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/sec.hpp>

#include "bindings/cart_http/cart_json.hpp"
#include "bindings/cart_http/cluster_json.hpp"
#include "bindings/cart_http/error_map.hpp"
#include "bindings/cart_http/request_decoding.hpp"

namespace cartd {

namespace bhttp = boost::beast::http;

namespace {

/// Resolutions of a crash request whose cart died before it got there.
constexpr int max_crash_attempts = 3;

} // namespace

admin_routes::admin_routes(admin_settings settings,
                           std::shared_ptr<http::handler> next)
    : settings_(std::move(settings)), next_(std::move(next)) {
  using verb = bhttp::verb;
  if (settings_.router)
    routes_.add(verb::get, "/cluster", &admin_routes::get_cluster);
  if (settings_.metrics)
    routes_.add(verb::get, "/metrics", &admin_routes::get_metrics);
  if (!settings_.openapi_json.empty())
    routes_.add(verb::get, "/openapi.json", &admin_routes::get_openapi);
  if (!settings_.dashboard.empty())
    routes_.add(verb::get, "/dashboard", &admin_routes::get_dashboard);
  if (settings_.fault_injection && settings_.carts)
    routes_.add(verb::post, "/debug/carts/{cart}/crash", &admin_routes::crash);
}

std::string_view admin_routes::handle(caf::io::broker* self,
                                      http::request&& req,
                                      http::responder reply) {
  auto path = split_path(req.path());
  auto found = routes_.find(req.msg.method(), path);
  if (found.hit == nullptr) {
    if (found.allow.empty()) {
      if (next_ != nullptr)
        return next_->handle(self, std::move(req), std::move(reply));
      reply(http::error_response(404, "not_found", "no such route"));
      return {};
    }
    auto res = http::error_response(405, "method_not_allowed",
                                    "this route accepts " + found.allow);
    res.headers.emplace_back("Allow", std::move(found.allow));
    reply(std::move(res));
    return {};
  }
  call c{self, req, reply, {}};
  for (auto& p : found.hit->placeholders) {
    auto id = decode_cart_id(path[p.index]);
    if (!id) {
      reply(error_reply(cart_errc::invalid_cart_id));
      return found.hit->pattern;
    }
    c.cart = std::move(*id);
  }
  (this->*found.hit->handler)(c);
  return found.hit->pattern;
}

bool admin_routes::ready() const {
  return failing_check().empty();
}

std::string admin_routes::failing_check() const {
  if (next_ != nullptr)
    return next_->failing_check();
  return settings_.failing_check ? settings_.failing_check() : std::string{};
}

http::response admin_routes::timeout_response() const {
  return next_ != nullptr ? next_->timeout_response()
                          : http::handler::timeout_response();
}

caf::message_handler admin_routes::messages(caf::io::broker* self) {
  return next_ != nullptr ? next_->messages(self) : caf::message_handler{};
}

void admin_routes::on_down(caf::io::broker* self, const caf::down_msg& dm) {
  if (next_ != nullptr)
    next_->on_down(self, dm);
}

std::vector<std::pair<std::string, std::string>>
admin_routes::route_list() const {
  std::vector<std::pair<std::string, std::string>> result;
  for (auto& r : routes_.routes()) {
    auto name = bhttp::to_string(r.method);
    result.emplace_back(std::string{name.data(), name.size()}, r.pattern);
  }
  return result;
}

// -- routes -------------------------------------------------------------------

void admin_routes::get_cluster(call& c) {
  c.self
      ->request(settings_.router, settings_.request_timeout,
                caf::get_atom::value, cluster_atom::value)
      .then(
          [reply = c.reply](cluster_state& state) {
            http::response res;
            res.body = cluster_json(state);
            reply(std::move(res));
          },
          [reply = c.reply](caf::error& err) {
            reply(error_reply(to_cart_errc(err)));
          });
}

void admin_routes::get_metrics(call& c) {
  http::response res;
  res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  settings_.metrics(res.body);
  c.reply(std::move(res));
}

void admin_routes::get_openapi(call& c) {
  http::response res;
  res.body.assign(settings_.openapi_json.data(), settings_.openapi_json.size());
  c.reply(std::move(res));
}

void admin_routes::get_dashboard(call& c) {
  http::response res;
  res.content_type = "text/html; charset=utf-8";
  // It polls the node's own endpoints; a cached copy of an older build
  // would read them wrong.
  res.headers.emplace_back("Cache-Control", "no-store");
  res.body.assign(settings_.dashboard.data(), settings_.dashboard.size());
  c.reply(std::move(res));
}

void admin_routes::crash(call& c) {
  crash_cart(c.self, std::move(c.cart), 0, c.reply);
}

void admin_routes::crash_cart(caf::io::broker* self, std::string id,
                              int attempt, http::responder reply) {
  auto timeout = settings_.request_timeout;
  self->request(settings_.carts, timeout, resolve_atom::value, id)
      .then(
          [this, self, id, attempt, reply, timeout](cart_actor& cart) {
            // A local cart always answers (a reply, or request_receiver_down
            // when it dies); one on another node may never.
            auto bound = cart.node() == self->node()
                             ? caf::duration{caf::infinite}
                             : caf::duration{timeout};
            self->request(cart, bound, crash_atom::value)
                .then([reply](cart_view& view) { reply(cart_reply(view)); },
                      [this, self, id, attempt, reply](caf::error& err) {
                        bool gone =
                            err == caf::sec::request_receiver_down ||
                            err == caf::exit_reason::remote_link_unreachable;
                        if (gone && attempt + 1 < max_crash_attempts) {
                          crash_cart(self, id, attempt + 1, reply);
                          return;
                        }
                        reply(error_reply(to_cart_errc(err)));
                      });
          },
          [reply](caf::error& err) { reply(error_reply(to_cart_errc(err))); });
}

} // namespace cartd
