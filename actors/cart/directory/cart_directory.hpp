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
// `unavailable_for`, then may be activated again.
//
// In a cluster, the node's cart router (actors/cart/cluster) decides which
// carts this node owns and asks the directory, besides resolving, through
// cart_directory_control_actor (local to a node, like cart_control_actor):
//
//   (release_atom, std::vector<std::string> owners, std::string self)
//       -> size_t
//       passivate every resident cart whose owner among `owners`
//       (owner_index) is not `self` (`owners` empty: every cart), each once
//       its writes in flight are done, and answer how many once they have
//       all stopped. Resolves for them that arrive meanwhile wait, as for
//       any cart passivating, and activate it again afterwards (the router
//       resolves only carts this node owns).
//   (lookup_atom, cart_id) -> cart_actor
//       the cart if it is resident and not passivating; never activates it
//       (errors: cart_errc::invalid_cart_id, cart_errc::unavailable)

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cart/actor/cart_actor_impl.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/journal/journal_actor.hpp"
#include "runtime/metrics/node_metrics.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd {

using lookup_atom = caf::atom_constant<caf::atom("lookup")>;

/// What a node's cart router asks its directory besides resolving (see
/// above); the directory spawn_cart_directory returns answers it too
/// (`caf::actor_cast` its handle).
using cart_directory_control_actor = caf::typed_actor<
    caf::replies_to<release_atom, std::vector<std::string>,
                    std::string>::with<size_t>,
    caf::replies_to<lookup_atom, std::string>::with<cart_actor>>;

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
  /// The node's metrics: resident carts, activations, passivations,
  /// restarts (null: not counted).
  std::shared_ptr<metrics::node_metrics> metrics;
};

/// Spawns the directory (and its shards) as a child of `parent`.
cart_directory_actor
spawn_cart_directory(caf::event_based_actor* parent,
                     directory_settings settings, journal_actor journal,
                     std::shared_ptr<const cart_settings> carts);

} // namespace cartd
