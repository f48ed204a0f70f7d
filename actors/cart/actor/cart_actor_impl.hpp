#pragma once

// The cart actor: one per cart id, activated on first use by its shard,
// passivated when idle (the shard sweeps its carts, see cart_spawner). It
// recovers its state from its journal stream (the latest snapshot plus the
// events after it, and the idempotency keys still within retention), then
// handles one message at a time:
//
//   get      answered at once from the last acknowledged state;
//   mutation decide -> persist (journal append) -> apply -> reply, in order
//            of arrival, through the cart's write_pipeline
//            (write_pipeline.hpp). Writes are pipelined: a mutation arriving
//            while others are in flight is decided against the state after
//            them and its append sent at once (up to 32 in flight), so the
//            journal commits them together; acknowledgements come back in
//            order and the cart adopts each state and answers each request
//            in that order. The state it serves is only ever what the
//            journal acknowledged. What cannot be sent yet (over the limit,
//            a keyed change or one behind it, one refused against a state
//            not stored yet, anything after a failed write until the writes
//            in flight are back, a queued fault injection) waits in a
//            bounded queue (overflow: cart_errc::overloaded).
//
// A node keeps up to millions of carts resident: what one costs is kept
// small ("Memory" in cart_actor_impl.cpp; bench_memory measures it).

#include <cstddef>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/intrusive_ptr.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/model/cart.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/journal/journal_actor.hpp"

namespace cartd {

/// Settings shared by every cart of a node.
struct cart_settings {
  cart_limits limits;
  /// Idle time after which a cart passivates (0: never); see
  /// cart_spawner::sweep_interval.
  caf::timespan idle_timeout = caf::timespan{std::chrono::seconds{120}};
  /// How long a cart waits for the journal.
  caf::timespan journal_timeout = caf::timespan{std::chrono::seconds{5}};
  /// Mutations that may wait to be sent (behind max_writes_in_flight, a
  /// keyed one, or one refused against a state not stored yet).
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
  /// In a cluster, this node's lease: a cart answers nothing (every request
  /// gets cart_errc::unavailable and the cart stops) once it is not valid,
  /// so a node cut off from the membership table never serves a read its
  /// successor could contradict. Null: one node, always valid.
  std::shared_ptr<const cluster_lease> lease;
};

using idle_check_atom = caf::atom_constant<caf::atom("idle_check")>;
using passivate_atom = caf::atom_constant<caf::atom("passivate")>;

/// What the actor holding a cart (its shard) asks the cart; not part of
/// cart_actor, which the front end sees. Local to a node: a cart and its
/// shard are one node's.
///
///   (idle_check_atom) -> bool   passivate unless a request came in within
///                               the idle timeout or a write is in flight
///                               or queued; true: stopping (see
///                               cart_spawner)
///   (passivate_atom)  -> bool   true: stopping once the writes in flight
///                               are done; false: refused, the cart was used
///                               within min_residency (the shard asks to
///                               keep its resident cap)
///   (release_atom)    -> bool   always true: stopping once the writes in
///                               flight are done, however recently used
///                               (this node no longer owns the cart: the
///                               shard releases it for the cluster router)
using cart_control_actor =
    caf::typed_actor<caf::replies_to<idle_check_atom>::with<bool>,
                     caf::replies_to<passivate_atom>::with<bool>,
                     caf::replies_to<release_atom>::with<bool>>;

/// Spawns carts. Every cart it spawns shares one copy of what all carts of a
/// node have in common (journal handle, settings, the behavior): a resident
/// cart holds only its own data. Cheap to copy; make one per shard (or node)
/// rather than one per cart.
class cart_spawner {
public:
  cart_spawner(journal_actor journal,
               std::shared_ptr<const cart_settings> settings);

  cart_spawner(const cart_spawner&);
  cart_spawner(cart_spawner&&) noexcept;
  cart_spawner& operator=(const cart_spawner&);
  cart_spawner& operator=(cart_spawner&&) noexcept;
  ~cart_spawner();

  /// Spawns the cart `id` as a child of `parent` (its shard). The cart
  /// answers cart_actor and cart_control_actor.
  cart_actor spawn(caf::event_based_actor* parent, std::string id) const;

  // Idle passivation. A cart does not time itself out (a CAF receive timeout
  // would cost every resident cart a clock entry and every message a trip
  // through CAF's clock thread): whoever holds the carts sweeps them. Every
  // sweep_interval() (a quarter of the idle timeout), it asks the carts
  // this spawner made that look idle (looks_idle, a read) idle_check_atom
  // (cart_control_actor);
  // a cart without requests for the idle timeout then passivates (normal
  // exit) unless a write is in flight or queued. So a cart passivates after
  // 1 to 1.25 times the idle timeout without requests.

  /// How often to sweep; zero: carts never passivate when idle.
  caf::timespan sweep_interval() const;

  /// Whether no request reached `cart` (made by this spawner) within the
  /// idle timeout. Sends nothing; safe from any actor holding the handle.
  bool looks_idle(const caf::actor& cart) const;

  /// What the carts share (defined in cart_actor_impl.cpp).
  struct shared;

private:
  caf::intrusive_ptr<const shared> shared_;
};

} // namespace cartd
