#pragma once

// The one place where a cart_errc becomes a gRPC status: the gRPC binding's
// counterpart of bindings/cart_http/error_map.hpp (same codes, same words).
//
//   cart_errc                                   gRPC code            HTTP
//   invalid_item_id, invalid_quantity,
//   invalid_cart_id                             INVALID_ARGUMENT     400
//   item_not_found                              NOT_FOUND            404
//   line_quantity_exceeded, cart_full           FAILED_PRECONDITION  409
//   checked_out, empty_cart                     FAILED_PRECONDITION  409
//   version_mismatch                            FAILED_PRECONDITION  412
//   idempotency_key_reused                      ALREADY_EXISTS       422
//   crashed                                     INTERNAL             500
//   overloaded, unavailable, storage_failure    UNAVAILABLE          503
//   timeout                                     DEADLINE_EXCEEDED    503
//
// The status message is "<to_string(code)>: <message_for(code)>", so a
// client tells the FAILED_PRECONDITIONs apart by the word before the colon
// (checked_out, version_mismatch, ...), as HTTP clients read "error".
//
// What the server refuses before a cart sees the call: a missing or invalid
// cart id or item, a missing SetQuantity quantity and an invalid
// idempotency-key are INVALID_ARGUMENT; a request larger than
// http.max-body-size is RESOURCE_EXHAUSTED (gRPC's own check).

#include <string>

#include <grpcpp/support/status_code_enum.h>

#include "actors/cart/model/cart.hpp"

namespace cartd {

/// The gRPC status code for `code` (OK for `none`).
grpc::StatusCode grpc_code_for(cart_errc code) noexcept;

/// The status message for `code`: its name, a colon, the words clients get
/// over HTTP too and, for all but `crashed` and `timeout`, a non-empty
/// `detail` in parentheses.
std::string grpc_message_for(cart_errc code, const std::string& detail = {});

} // namespace cartd
