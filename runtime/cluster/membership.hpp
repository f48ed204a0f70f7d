#pragma once

// The membership worker: this node's life as a row of the membership table.
// A detached actor (it blocks on its member_store) that
//
//   * joins: inserts this node's row under a fresh incarnation (first
//     removing a lapsed row of the same name; while a row of that name still
//     holds a valid lease it retries every heartbeat and logs why);
//   * renews the lease every heartbeat (lease_expires = now() + lease, by the
//     database's clock) and extends `lease` to (when the renewal was sent +
//     lease - lease / 4) after each success;
//   * reads the numbered view when notified (LISTEN/NOTIFY) and at least
//     every heartbeat, and as soon as another member's lease is due to lapse;
//   * removes members whose lease lapsed (a DELETE that waits for their
//     fenced appends still in flight, see pg_journal's fence);
//   * on losing its lease (a renewal refused, or none succeeded before
//     `lease` ran out): revokes `lease`, sets fence->incarnation to 0, tells
//     the listener, and rejoins under a new incarnation when it can.
//
// Messages to the listener:
//   (view_atom, cluster_view)   every time the view read differs from the
//                               last one sent (number or any member field)
//   (lease_atom, bool serving)  true once joined with a valid lease, false
//                               when the lease was lost (then true again
//                               after the rejoin); true again, too, when a
//                               renewal succeeds after `lease` had run out
//                               by this node's clock but not by the
//                               database's (a slow node: the same
//                               incarnation serves again)
//
// Messages it handles:
//   (ack_atom, uint64_t view)   record view_seen = view in this node's row
//                               now (not at the next heartbeat), so nodes
//                               waiting for the view to settle learn it
//   (leave_atom) -> uint64_t    mark this node's row `leaving`; answers the
//                               view number that change produced
//   exit (any reason)           delete this node's row (bounded by the
//                               lease), then quit

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "runtime/cluster/cluster.hpp"
#include "runtime/cluster/member_store.hpp"

namespace cartd {

struct journal_fence;

/// What the membership worker writes into this node's row, and its timing.
struct membership_settings {
  /// --cluster.node.
  std::string name;
  /// host:port of this node's HTTP front end and of its BASP endpoint.
  std::string http;
  std::string cluster;
  /// --cluster.lease and --cluster.heartbeat.
  caf::timespan lease = caf::timespan{std::chrono::seconds{2}};
  caf::timespan heartbeat = caf::timespan{std::chrono::milliseconds{500}};
};

/// Spawns the membership worker over `store` (see above). `fence` may be
/// null (no fenced journal, e.g. in tests).
caf::actor spawn_membership(caf::actor_system& sys,
                            std::unique_ptr<member_store> store,
                            membership_settings settings,
                            std::shared_ptr<cluster_lease> lease,
                            std::shared_ptr<journal_fence> fence,
                            caf::actor listener);

} // namespace cartd
