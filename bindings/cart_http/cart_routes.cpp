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

namespace cartd {

namespace bhttp = boost::beast::http;
using json = nlohmann::ordered_json;

namespace {

/// Retries after request_receiver_down (a passivated or restarted cart).
constexpr int max_attempts = 3;

const char* message_for(cart_errc code) {
  switch (code) {
    case cart_errc::none:
      return "no error";
    case cart_errc::invalid_item_id:
      return "item ids are 1 to 128 bytes of UTF-8 without control "
             "characters";
    case cart_errc::invalid_quantity:
      return "quantity must be an integer from 1 to 1000000 (0 allowed when "
             "setting)";
    case cart_errc::line_quantity_exceeded:
      return "a line cannot hold more than 1000000000 units";
    case cart_errc::cart_full:
      return "the cart has the maximum number of distinct items";
    case cart_errc::checked_out:
      return "the cart is checked out and accepts no further change";
    case cart_errc::empty_cart:
      return "an empty cart cannot be checked out";
    case cart_errc::item_not_found:
      return "the item is not in the cart";
    case cart_errc::version_mismatch:
      return "the cart's version does not match If-Match";
    case cart_errc::invalid_cart_id:
      return "cart ids are 1 to 128 characters of A-Z a-z 0-9 . _ ~ -";
    case cart_errc::overloaded:
      return "too many changes are queued for this cart; retry later";
    case cart_errc::unavailable:
      return "the cart is unavailable right now; retry later";
    case cart_errc::storage_failure:
      return "the change could not be stored; nothing was changed";
    case cart_errc::crashed:
      return "the cart crashed and was restarted with its stored state; a "
             "change in flight may or may not have been applied (retry with "
             "the same Idempotency-Key to find out)";
    case cart_errc::timeout:
      return "the request did not complete in time; a change may or may not "
             "have been applied (retry with the same Idempotency-Key to find "
             "out)";
    case cart_errc::idempotency_key_reused:
      return "this Idempotency-Key was used for a different request";
  }
  return "unknown error";
}

unsigned status_for(cart_errc code) {
  switch (code) {
    case cart_errc::none:
      return 200;
    case cart_errc::invalid_item_id:
    case cart_errc::invalid_quantity:
    case cart_errc::invalid_cart_id:
      return 400;
    case cart_errc::item_not_found:
      return 404;
    case cart_errc::line_quantity_exceeded:
    case cart_errc::cart_full:
    case cart_errc::checked_out:
    case cart_errc::empty_cart:
      return 409;
    case cart_errc::version_mismatch:
      return 412;
    case cart_errc::idempotency_key_reused:
      return 422;
    case cart_errc::crashed:
      return 500;
    case cart_errc::overloaded:
    case cart_errc::unavailable:
    case cart_errc::storage_failure:
    case cart_errc::timeout:
      return 503;
  }
  return 500;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Percent-decodes one path segment; std::nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return std::nullopt;
    auto hi = hex_value(in[i + 1]);
    auto lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// Splits "/a/b/c" into {"a","b","c"}; "/" gives {}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> result;
  if (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    result.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
    if (path.empty())
      result.emplace_back(); // a trailing slash is an empty segment
  }
  return result;
}

http::response method_not_allowed(std::string allow) {
  auto result = http::error_response(405, "method_not_allowed",
                                     "this route accepts " + allow);
  result.headers.emplace_back("Allow", std::move(allow));
  return result;
}

http::response not_found() {
  return http::error_response(404, "not_found", "no such route");
}

bool is_json_media_type(std::string_view value) {
  auto semicolon = value.find(';');
  auto type = value.substr(0, semicolon);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  std::string lower;
  lower.reserve(type.size());
  for (auto c : type)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "application/json")
    return true;
  return lower.size() > 5 && lower.compare(lower.size() - 5, 5, "+json") == 0
         && lower.compare(0, 12, "application/") == 0;
}

/// The JSON object of a request body, or the response refusing it.
struct body_or_error {
  json body;
  std::optional<http::response> error;
};

body_or_error parse_json_body(const http::request& req) {
  body_or_error result;
  if (!req.has_length) {
    result.error = http::error_response(
      411, "length_required", "this route needs a body with Content-Length");
    return result;
  }
  const auto& body = req.msg.body();
  if (!body.empty()) {
    auto type = req.msg[bhttp::field::content_type];
    if (!is_json_media_type({type.data(), type.size()})) {
      result.error = http::error_response(415, "unsupported_media_type",
                                          "the body must be application/json");
      return result;
    }
  }
  // nlohmann stops at a NUL byte and would accept what precedes it; a raw
  // NUL is never valid JSON.
  if (body.find('\0') == std::string::npos)
    result.body = json::parse(body, nullptr, false);
  else
    result.body = json::value_t::discarded;
  if (result.body.is_discarded()) {
    result.error = http::error_response(400, "malformed_json",
                                        "the body is not valid JSON");
    return result;
  }
  if (!result.body.is_object())
    result.error = http::error_response(400, "invalid_field",
                                        "the body must be a JSON object");
  return result;
}

/// Reads an optional integer field; an error response if it has another
/// type. Integers beyond int64 are out of every range we accept.
std::optional<http::response> read_quantity(const json& body,
                                            const char* field,
                                            std::optional<int64_t>& out) {
  auto i = body.find(field);
  if (i == body.end())
    return std::nullopt;
  if (i->is_number_unsigned()) {
    auto value = i->get<uint64_t>();
    if (value > static_cast<uint64_t>(max_quantity_per_change))
      return error_reply(cart_errc::invalid_quantity);
    out = static_cast<int64_t>(value);
    return std::nullopt;
  }
  if (i->is_number_integer()) {
    out = i->get<int64_t>();
    return std::nullopt;
  }
  return http::error_response(400, "invalid_field",
                              std::string{"\""} + field
                                + "\" must be an integer");
}

/// Reads a required string field.
std::optional<http::response> read_item(const json& body, std::string& out) {
  auto i = body.find("item");
  if (i == body.end() || !i->is_string())
    return http::error_response(400, "invalid_field",
                                "\"item\" must be a string");
  out = i->get<std::string>();
  if (!valid_item_id(out))
    return error_reply(cart_errc::invalid_item_id);
  return std::nullopt;
}

/// Parses If-Match: `"7"`, `W/"7"` or `7` expect version 7; `*` or no header
/// expect nothing.
std::optional<http::response> read_if_match(const http::request& req,
                                            cart_mutation& out) {
  auto field = req.msg.find(bhttp::field::if_match);
  if (field == req.msg.end())
    return std::nullopt;
  std::string_view value{field->value().data(), field->value().size()};
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value == "*")
    return std::nullopt;
  if (value.substr(0, 2) == "W/")
    value.remove_prefix(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    value = value.substr(1, value.size() - 2);
  uint64_t version = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(),
                                   version);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size())
    return http::error_response(400, "invalid_if_match",
                                "If-Match must be a quoted cart version");
  out.has_expected_version = true;
  out.expected_version = version;
  return std::nullopt;
}

/// Reads Idempotency-Key: 1..128 visible ASCII characters.
std::optional<http::response> read_idempotency_key(const http::request& req,
                                                   cart_mutation& out) {
  auto field = req.msg.find("Idempotency-Key");
  if (field == req.msg.end())
    return std::nullopt;
  std::string_view value{field->value().data(), field->value().size()};
  auto visible = [](char c) { return c > 0x20 && c < 0x7f; };
  if (value.empty() || value.size() > 128
      || !std::all_of(value.begin(), value.end(), visible))
    return http::error_response(400, "invalid_idempotency_key",
                                "Idempotency-Key must be 1 to 128 visible "
                                "ASCII characters");
  out.idempotency_key = std::string{value};
  return std::nullopt;
}

http::response message_reply(const char* text) {
  http::response result;
  result.body = json{{"message", text}}.dump();
  return result;
}

} // namespace

// -- free functions -----------------------------------------------------------

http::response error_reply(cart_errc code, const std::string& detail) {
  std::string message = message_for(code);
  if (!detail.empty() && code != cart_errc::crashed
      && code != cart_errc::timeout)
    message += " (" + detail + ")";
  return http::error_response(status_for(code), to_string(code), message);
}

namespace {

// Appends `str` as a JSON string. nlohmann does the escaping; only the
// cart's fixed shape is written here (building an nlohmann object tree for
// it cost ~20k instructions per cart, most of a mutation's rendering).
void append_json_string(std::string& out, const std::string& str) {
  out += nlohmann::json(str).dump(-1, ' ', false,
                                  json::error_handler_t::replace);
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
  // nop
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
  if (i == cache_.end() || i->second.body.empty()
      || i->second.version != view.version)
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
          if (err == caf::sec::request_receiver_down
              && attempt + 1 < max_attempts) {
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
  auto segments = split_path(req.path());
  auto method = req.msg.method();
  if (segments.empty())
    return reply(not_found());
  // Decodes a path segment that names a cart.
  auto cart_id = [&](std::string_view raw) -> std::optional<std::string> {
    auto id = percent_decode(raw);
    if (!id || !valid_cart_id(*id)) {
      reply(error_reply(cart_errc::invalid_cart_id));
      return std::nullopt;
    }
    return id;
  };
  auto item_id = [&](std::string_view raw) -> std::optional<std::string> {
    auto id = percent_decode(raw);
    if (!id || !valid_item_id(*id)) {
      reply(error_reply(cart_errc::invalid_item_id));
      return std::nullopt;
    }
    return id;
  };
  auto as_cart = [this, reply](cart_view& view) {
    reply(render_cart(view));
  };
  auto mutate = [&](const std::string& id, cart_mutation m) {
    if (auto err = read_if_match(req, m))
      return reply(std::move(*err));
    if (auto err = read_idempotency_key(req, m))
      return reply(std::move(*err));
    ask_cart(self, id, 0, false, as_cart, reply, std::move(m));
  };
  auto first = segments[0];
  auto n = segments.size();
  if (first == "carts" && n >= 2) {
    if (n == 2) {
      if (method != bhttp::verb::get && method != bhttp::verb::delete_)
        return reply(method_not_allowed("GET, HEAD, DELETE"));
      auto id = cart_id(segments[1]);
      if (!id)
        return;
      if (method == bhttp::verb::get) {
        auto i = cache_.find(*id);
        if (i != cache_.end() && i->second.current) {
          http::response res;
          res.body = i->second.body;
          res.headers.emplace_back("ETag", i->second.etag);
          return reply(std::move(res));
        }
        // A GET that misses the cache watches the cart: its copy is then
        // kept current here.
        return ask_cart(self, *id, 0, true, as_cart, reply, watch_atom::value,
                        caf::actor_cast<cart_watcher_actor>(self));
      }
      cart_mutation m;
      m.kind = mutation_kind::clear_cart;
      return mutate(*id, std::move(m));
    }
    if (n == 3 && segments[2] == "items") {
      if (method != bhttp::verb::post)
        return reply(method_not_allowed("POST"));
      auto id = cart_id(segments[1]);
      if (!id)
        return;
      auto parsed = parse_json_body(req);
      if (parsed.error)
        return reply(std::move(*parsed.error));
      cart_mutation m;
      m.kind = mutation_kind::add_item;
      if (auto err = read_item(parsed.body, m.item))
        return reply(std::move(*err));
      std::optional<int64_t> quantity;
      if (auto err = read_quantity(parsed.body, "quantity", quantity))
        return reply(std::move(*err));
      m.quantity = quantity.value_or(1);
      return mutate(*id, std::move(m));
    }
    if (n == 4 && segments[2] == "items") {
      if (method != bhttp::verb::put && method != bhttp::verb::delete_)
        return reply(method_not_allowed("PUT, DELETE"));
      auto id = cart_id(segments[1]);
      if (!id)
        return;
      auto item = item_id(segments[3]);
      if (!item)
        return;
      cart_mutation m;
      m.item = std::move(*item);
      if (method == bhttp::verb::delete_) {
        m.kind = mutation_kind::remove_item;
        return mutate(*id, std::move(m));
      }
      auto parsed = parse_json_body(req);
      if (parsed.error)
        return reply(std::move(*parsed.error));
      std::optional<int64_t> quantity;
      if (auto err = read_quantity(parsed.body, "quantity", quantity))
        return reply(std::move(*err));
      if (!quantity)
        return reply(http::error_response(400, "invalid_field",
                                          "\"quantity\" is required"));
      m.kind = mutation_kind::set_item_quantity;
      m.quantity = *quantity;
      return mutate(*id, std::move(m));
    }
    if (n == 3 && segments[2] == "checkout") {
      if (method != bhttp::verb::post)
        return reply(method_not_allowed("POST"));
      auto id = cart_id(segments[1]);
      if (!id)
        return;
      cart_mutation m;
      m.kind = mutation_kind::checkout;
      return mutate(*id, std::move(m));
    }
    return reply(not_found());
  }
  if (first == "cart" && n <= 2) {
    static const std::string seed_cart = "default";
    if (n == 1) {
      if (method == bhttp::verb::get) {
        auto as_map = [reply](cart_view& view) {
          json body = json::object();
          for (auto& line : view.lines)
            body[line.item] = line.quantity;
          http::response res;
          res.body = body.dump();
          reply(std::move(res));
        };
        return ask_cart(self, seed_cart, 0, false, as_map, reply,
                        caf::get_atom::value);
      }
      if (method != bhttp::verb::post)
        return reply(method_not_allowed("GET, HEAD, POST"));
      auto parsed = parse_json_body(req);
      if (parsed.error)
        return reply(std::move(*parsed.error));
      cart_mutation m;
      m.kind = mutation_kind::add_item;
      m.quantity = 1;
      if (auto err = read_item(parsed.body, m.item))
        return reply(std::move(*err));
      auto added = [reply](cart_view&) {
        reply(message_reply("Added to cart"));
      };
      if (auto err = read_idempotency_key(req, m))
        return reply(std::move(*err));
      return ask_cart(self, seed_cart, 0, false, added, reply, std::move(m));
    }
    if (method != bhttp::verb::delete_)
      return reply(method_not_allowed("DELETE"));
    auto item = item_id(segments[1]);
    if (!item)
      return;
    cart_mutation m;
    m.kind = mutation_kind::remove_one_unit;
    m.item = std::move(*item);
    auto removed = [reply](cart_view&) {
      reply(message_reply("Removed from cart"));
    };
    if (auto err = read_idempotency_key(req, m))
      return reply(std::move(*err));
    return ask_cart(self, seed_cart, 0, false, removed, reply, std::move(m));
  }
  if (first == "debug" && settings_.fault_injection && n == 4
      && segments[1] == "carts" && segments[3] == "crash") {
    if (method != bhttp::verb::post)
      return reply(method_not_allowed("POST"));
    auto id = cart_id(segments[2]);
    if (!id)
      return;
    return ask_cart(self, *id, 0, false, as_cart, reply, crash_atom::value);
  }
  reply(not_found());
}

} // namespace cartd
