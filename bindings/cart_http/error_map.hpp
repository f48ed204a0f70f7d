#pragma once

// The one place where a cart_errc becomes an HTTP status and a message.
//
//   cart_errc                                   status
//   invalid_item_id, invalid_quantity,
//   invalid_cart_id                             400
//   item_not_found                              404
//   line_quantity_exceeded, cart_full,
//   checked_out, empty_cart                     409
//   version_mismatch                            412
//   idempotency_key_reused                      422
//   crashed                                     500
//   overloaded, unavailable, storage_failure,
//   timeout                                     503
//
// The body is `{"error":"<to_string(code)>","message":"<message_for(code)>"}`.

#include <string>

#include "actors/cart/model/cart.hpp"
#include "actors/cart/protocol/request_rules.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

/// The HTTP status for `code` (200 for `none`).
unsigned status_for(cart_errc code) noexcept;

/// Maps a cart error to its HTTP response (status, JSON error body). A
/// non-empty `detail` is appended to the message in parentheses, except for
/// `crashed` and `timeout`, whose messages say all a client can know.
http::response error_reply(cart_errc code, const std::string& detail = {});

} // namespace cartd
