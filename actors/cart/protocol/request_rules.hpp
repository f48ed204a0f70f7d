#pragma once

// What every protocol binding (bindings/cart_http, bindings/grpc) takes
// from a request and tells a client the same way: the rule for idempotency
// keys (ids, quantities and their limits are the model's: valid_cart_id,
// valid_item_id, max_quantity_per_change) and what each cart_errc means in
// words (the HTTP error body's "message", the gRPC status message).

#include <cstddef>
#include <string_view>

#include "actors/cart/model/cart.hpp"

namespace cartd {

/// Longest idempotency key, in characters.
constexpr size_t max_idempotency_key_size = 128;

/// Whether `key` is a valid idempotency key: 1 to 128 visible ASCII
/// characters (0x21..0x7e).
bool valid_idempotency_key(std::string_view key) noexcept;

/// The message clients get for `code` (without a detail).
const char* message_for(cart_errc code) noexcept;

} // namespace cartd
