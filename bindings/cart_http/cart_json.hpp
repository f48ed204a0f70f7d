#pragma once

// A cart as clients see it in JSON:
//
//   {"id":"c1","items":[{"item":"apple","quantity":2}],"total_quantity":2,
//    "checked_out":false,"version":3}        with ETag "3"
//
// The view's incarnation is never rendered.

#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

/// Renders a cart as JSON (with its ETag header, the only header).
http::response cart_reply(const cart_view& view);

} // namespace cartd
