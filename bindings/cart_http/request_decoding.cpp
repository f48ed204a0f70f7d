#include "bindings/cart_http/request_decoding.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "actors/cart/protocol/request_rules.hpp"
#include "bindings/cart_http/error_map.hpp"

namespace cartd {

namespace bhttp = boost::beast::http;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// `name` as a JSON string, for messages (escaped: it is the client's text).
std::string quoted(const std::string& name) {
  return request_json(name).dump(-1, ' ', false,
                                 request_json::error_handler_t::replace);
}

/// The 400 naming `name`, a member the route does not define.
http::response unknown_field(const std::string& name, body_fields fields) {
  std::string message = "unknown field " + quoted(name) + " (this route takes ";
  auto first = true;
  for (auto field : fields) {
    if (!first)
      message += ", ";
    first = false;
    message += '"';
    message.append(field.data(), field.size());
    message += '"';
  }
  message += ')';
  return http::error_response(400, "unknown_field", message);
}

} // namespace

// -- path ---------------------------------------------------------------------

path_segments split_path(std::string_view path) noexcept {
  path_segments result;
  auto push = [&result](std::string_view segment) {
    if (result.size == path_segments::capacity)
      result.overflow = true;
    else
      result.items[result.size++] = segment;
  };
  if (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    push(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
    if (path.empty())
      push({}); // a trailing slash is an empty segment
  }
  return result;
}

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

std::optional<std::string> decode_cart_id(std::string_view raw) {
  auto id = percent_decode(raw);
  if (!id || !valid_cart_id(*id))
    return std::nullopt;
  return id;
}

std::optional<std::string> decode_item_id(std::string_view raw) {
  auto id = percent_decode(raw);
  if (!id || !valid_item_id(*id))
    return std::nullopt;
  return id;
}

// -- body ---------------------------------------------------------------------

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
  return lower.size() > 5 && lower.compare(lower.size() - 5, 5, "+json") == 0 &&
         lower.compare(0, 12, "application/") == 0;
}

body_or_error parse_json_body(const http::request& req, body_fields fields) {
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
    result.body = request_json::parse(body, nullptr, false);
  else
    result.body = request_json::value_t::discarded;
  if (result.body.is_discarded()) {
    result.error = http::error_response(400, "malformed_json",
                                        "the body is not valid JSON");
    return result;
  }
  if (!result.body.is_object()) {
    result.error = http::error_response(400, "invalid_field",
                                        "the body must be a JSON object");
    return result;
  }
  for (auto& member : result.body.items()) {
    auto& name = member.key();
    if (std::find(fields.begin(), fields.end(), name) == fields.end()) {
      result.error = unknown_field(name, fields);
      return result;
    }
  }
  return result;
}

std::optional<http::response> read_quantity(const request_json& body,
                                            const char* field,
                                            std::optional<int64_t>& out) {
  auto i = body.find(field);
  if (i == body.end())
    return std::nullopt;
  // Integers beyond int64 are out of every range we accept.
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
                              std::string{"\""} + field +
                                  "\" must be an integer");
}

std::optional<http::response> read_item(const request_json& body,
                                        std::string& out) {
  auto i = body.find("item");
  if (i == body.end() || !i->is_string())
    return http::error_response(400, "invalid_field",
                                "\"item\" must be a string");
  out = i->get<std::string>();
  if (!valid_item_id(out))
    return error_reply(cart_errc::invalid_item_id);
  return std::nullopt;
}

// -- headers ------------------------------------------------------------------

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
  auto [end, ec] =
      std::from_chars(value.data(), value.data() + value.size(), version);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size())
    return http::error_response(400, "invalid_if_match",
                                "If-Match must be a quoted cart version");
  out.has_expected_version = true;
  out.expected_version = version;
  return std::nullopt;
}

std::optional<http::response> read_idempotency_key(const http::request& req,
                                                   cart_mutation& out) {
  auto field = req.msg.find("Idempotency-Key");
  if (field == req.msg.end())
    return std::nullopt;
  std::string_view value{field->value().data(), field->value().size()};
  if (!valid_idempotency_key(value))
    return http::error_response(400, "invalid_idempotency_key",
                                "Idempotency-Key must be 1 to 128 visible "
                                "ASCII characters");
  out.idempotency_key = std::string{value};
  return std::nullopt;
}

} // namespace cartd
