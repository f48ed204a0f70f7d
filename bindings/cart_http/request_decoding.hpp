#pragma once

// Request decoding for the cart routes: what a request's path, headers and
// body say, checked. Every function here either yields a value or the
// response that refuses the request (a 4xx); none talks to an actor.
//
//   path        split_path, percent_decode, decode_cart_id, decode_item_id
//   body        parse_json_body (Content-Length, Content-Type, a JSON object
//               holding no member but the route's), read_item, read_quantity
//   headers     read_if_match, read_idempotency_key

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

/// The JSON type of request bodies (keeps the order of members).
using request_json = nlohmann::ordered_json;

// -- path ---------------------------------------------------------------------

/// The segments of a path, still percent-encoded. Holds no more than
/// `capacity` segments (no route has more): a longer path sets `overflow`.
struct path_segments {
  static constexpr size_t capacity = 8;
  std::array<std::string_view, capacity> items;
  size_t size = 0;
  bool overflow = false;

  std::string_view operator[](size_t i) const noexcept { return items[i]; }
};

/// Splits "/a/b/c" into {"a","b","c"}; "/" and "" give {}; "a//b" has an
/// empty middle segment and "/a/" an empty last one. The result points into
/// `path`.
path_segments split_path(std::string_view path) noexcept;

/// Percent-decodes one path segment (a '+' stays a '+'); std::nullopt for a
/// broken escape ('%' not followed by two hex digits).
std::optional<std::string> percent_decode(std::string_view in);

/// Decodes a path segment that names a cart: std::nullopt unless it
/// percent-decodes to a valid cart id.
std::optional<std::string> decode_cart_id(std::string_view raw);

/// Decodes a path segment that names an item: std::nullopt unless it
/// percent-decodes to a valid item id.
std::optional<std::string> decode_item_id(std::string_view raw);

// -- body ---------------------------------------------------------------------

/// Whether a Content-Type value is JSON: application/json or
/// application/<anything>+json, in any case, with or without parameters.
bool is_json_media_type(std::string_view value);

/// The JSON object of a request body, or the response refusing it.
struct body_or_error {
  request_json body;
  std::optional<http::response> error;
};

/// The members a route's body may hold, e.g. {"item", "quantity"}.
using body_fields = std::initializer_list<std::string_view>;

/// Reads the body as a JSON object. Refuses a request without a length (411
/// length_required), a non-empty body that is not JSON by its Content-Type
/// (415 unsupported_media_type), a body that does not parse or holds a NUL
/// byte (400 malformed_json), JSON other than an object (400 invalid_field)
/// and an object with a member not in `fields` (400 unknown_field, the
/// message naming the first such member): a misspelt `"qty"` must not be
/// taken for a request without a quantity.
body_or_error parse_json_body(const http::request& req, body_fields fields);

/// Reads the optional integer member `field` into `out` (left alone when the
/// member is missing). A non-integer gets 400 invalid_field; an integer above
/// max_quantity_per_change gets invalid_quantity. Lower values, negative
/// ones included, are for the cart's rules to judge.
std::optional<http::response> read_quantity(const request_json& body,
                                            const char* field,
                                            std::optional<int64_t>& out);

/// Reads the required string member "item": 400 invalid_field when it is
/// missing or not a string, invalid_item_id when it is not a valid item id.
std::optional<http::response> read_item(const request_json& body,
                                        std::string& out);

// -- headers ------------------------------------------------------------------

/// Reads If-Match into `out`: `"7"`, `W/"7"` or `7` (blanks around it
/// allowed) expect version 7; `*` or no header expect nothing; anything else
/// gets 400 invalid_if_match.
std::optional<http::response> read_if_match(const http::request& req,
                                            cart_mutation& out);

/// Reads Idempotency-Key into `out`: 1 to 128 visible ASCII characters
/// (0x21..0x7e), else 400 invalid_idempotency_key.
std::optional<http::response> read_idempotency_key(const http::request& req,
                                                   cart_mutation& out);

} // namespace cartd
