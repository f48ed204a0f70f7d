#pragma once

// The cart directory: resolves a cart id to the actor that serves it.
//
//   cart_directory (supervisor, one_for_one over its shards)
//   ├── shard-0   (supervisor, dynamic children one_for_one: its carts)
//   ├── ...
//   └── shard-N-1
//
// A cart id maps to one shard by hash; the shard activates the cart on the
// first request for it, and every quarter of the carts' idle timeout sweeps
// its carts so that those idle for the idle timeout passivate. A cart that
// crashes is restarted (it replays its journal). A cart that exceeds its own
// restart budget is given up and answers cart_errc::unavailable for
// `unavailable_for`, then may be activated again. Later, the directory is
// where placement across nodes slots in.

#include <cstddef>
#include <memory>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/actor/cart_actor_impl.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/journal/journal_actor.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd {

/// How the cart subsystem is laid out and supervised.
struct directory_settings {
  /// Number of shard supervisors.
  size_t shards = 4;
  /// Intensity of the directory over its shards and of each shard's own
  /// static bookkeeping.
  supervision::intensity shard_intensity;
  /// Per-cart restart budget.
  supervision::intensity cart_intensity;
  /// How long a given-up cart answers `unavailable`.
  caf::timespan unavailable_for = caf::timespan{std::chrono::seconds{5}};
  /// Most carts in memory across all shards (0: no cap). Beyond it, each
  /// shard passivates its least recently resolved carts.
  size_t max_resident = 0;
};

/// Spawns the directory (and its shards) as a child of `parent`.
cart_directory_actor
spawn_cart_directory(caf::event_based_actor* parent,
                     directory_settings settings, journal_actor journal,
                     std::shared_ptr<const cart_settings> carts);

} // namespace cartd
