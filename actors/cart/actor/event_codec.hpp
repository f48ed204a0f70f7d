#pragma once

// The journal format of cart events: one compact JSON object per event,
// e.g. {"v":1,"type":"item_added","item":"apple","quantity":2}. Documented
// in docs/event-format.md; changing it needs a new "v".

#include <optional>
#include <string>

#include "actors/cart/model/cart.hpp"

namespace cartd {

/// Encodes one event.
std::string encode_event(const cart_event& ev);

/// Decodes one event; std::nullopt for anything not written by encode_event
/// for an event decide can produce (quantities and item ids in range).
std::optional<cart_event> decode_event(const std::string& payload);

/// Encodes a whole cart (snapshots, idempotent replies), e.g.
/// {"v":1,"lines":{"apple":2},"checked_out":false,"version":3}.
std::string encode_state(const cart& state);

/// Decodes what encode_state wrote for a cart within the rules (item ids,
/// line quantities 1..max_line_quantity); std::nullopt for anything else.
std::optional<cart> decode_state(const std::string& payload);

} // namespace cartd
