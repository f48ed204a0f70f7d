#pragma once

// The cart actor: one per cart id, activated on first use by its shard,
// passivated when idle. It recovers its state from its journal stream (the
// latest snapshot plus the events after it, and the idempotency keys still
// within retention), then handles one message at a time:
//
//   get      answered at once from the last acknowledged state;
//   mutation decide -> persist (journal append) -> apply -> reply. While a
//            write is in flight, later mutations wait in a bounded queue
//            (overflow: cart_errc::overloaded), so the cart's order of
//            changes is its order of arrival and its state never runs ahead
//            of the journal.

#include <cstddef>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/model/cart.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/journal/journal_actor.hpp"

namespace cartd {

/// Settings shared by every cart of a node.
struct cart_settings {
  cart_limits limits;
  /// Idle time after which a cart passivates (0: never).
  caf::timespan idle_timeout = caf::timespan{std::chrono::seconds{120}};
  /// How long a cart waits for the journal.
  caf::timespan journal_timeout = caf::timespan{std::chrono::seconds{5}};
  /// Mutations that may wait behind an in-flight write.
  size_t max_pending = 128;
  /// Whether crash_atom makes the cart throw (tests only).
  bool fault_injection = false;
  /// A snapshot of the cart is stored with every N-th event (0: never).
  uint64_t snapshot_every = 100;
  /// A cart used more recently than this refuses to passivate for the
  /// resident cap (requests may already be on their way to it).
  caf::timespan min_residency = caf::timespan{std::chrono::seconds{1}};
  /// How long an Idempotency-Key is remembered.
  caf::timespan idempotency_retention = caf::timespan{std::chrono::hours{24}};
};

/// Spawns the cart `id` as a child of `parent` (its shard).
cart_actor spawn_cart(caf::event_based_actor* parent, std::string id,
                      journal_actor journal,
                      std::shared_ptr<const cart_settings> settings);

} // namespace cartd
