#pragma once

// GET /cluster's body: the cluster as this node's router sees it.
//
//   {"self": "a", "view": 7, "members": [
//     {"name": "a", "http": "10.0.0.1:8080", "cluster": "10.0.0.1:7070",
//      "status": "up", "since": "2026-11-27T19:54:15.123Z"}, ...]}
//
// status: "up" (owns its share of the carts), "leaving" (handing its carts
// over), "unreachable" (a member this node is not connected to now),
// "lapsed" (its lease ran out: dead, about to be removed). since: when its
// incarnation joined, by the database's clock, RFC 3339 in UTC.

#include <cstdint>
#include <string>

#include "actors/cart/protocol/cart_router.hpp"

namespace cartd {

/// `ms` (Unix milliseconds) as RFC 3339 in UTC with milliseconds, e.g.
/// "1970-01-01T00:00:00.000Z".
std::string rfc3339_utc(int64_t ms);

/// The status GET /cluster shows for `x` (see above).
const char* status_name(const cluster_member_state& x) noexcept;

/// GET /cluster's body for `state`.
std::string cluster_json(const cluster_state& state);

} // namespace cartd
