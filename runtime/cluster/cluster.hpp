#pragma once

// The cluster's shared vocabulary: members and numbered views as the
// membership table in PostgreSQL holds them, this node's lease as its own
// monotonic clock sees it, and the atoms of the cluster's messages. See
// runtime/cluster/README.md for how the pieces fit.
//
// Views. Every change of the membership table's rows that changes who owns
// carts (a join, a member marked leaving, a member removed) bumps one
// counter in the same transaction: the view number. Every node reads the
// same numbered views (LISTEN/NOTIFY wakes it, polling at the heartbeat backs
// that up), so "view 7" means the same members on every node.
//
// Handover. A member acknowledges view N (its row's view_seen) once it has
// passivated every cart it does not own under N. A view is settled when
// every member in it acknowledged it: only then may a node activate a cart
// (so a cart that changed owner is never served by two nodes at once), while
// carts already resident on their owner keep serving.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "runtime/core/type_ids.hpp"

namespace cartd {

// -- atoms (at most 10 characters) --------------------------------------------

using view_atom = caf::atom_constant<caf::atom("view")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using peer_down_atom = caf::atom_constant<caf::atom("peerdown")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

// -- members and views --------------------------------------------------------

/// Whether a member takes carts.
enum class member_status : uint8_t {
  /// Owns its share of the carts.
  up,
  /// Handing its carts over before it deletes its row (graceful leave):
  /// placement no longer gives it carts.
  leaving,
};

/// Returns "up" or "leaving".
const char* to_string(member_status x) noexcept;

/// One row of the membership table as a node read it.
struct cluster_member {
  /// Unique in the cluster (--cluster.node).
  std::string name;
  /// Drawn anew at every join; a node that lost its lease rejoins under a
  /// new one. The journal's fence checks (name, incarnation).
  uint64_t incarnation = 0;
  /// host:port of its HTTP front end.
  std::string http;
  /// host:port of its node-to-node (BASP) endpoint.
  std::string cluster;
  member_status status = member_status::up;
  /// When this incarnation joined (the database's clock, Unix milliseconds).
  int64_t since_ms = 0;
  /// The highest view number it acknowledged (see "Handover" above).
  uint64_t view_seen = 0;
  /// Its lease had lapsed when the view was read (the database's clock): it
  /// is dead and about to be removed.
  bool lapsed = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_member& x) {
  return f(caf::meta::type_name("cartd::cluster_member"), x.name, x.incarnation,
           x.http, x.cluster, x.status, x.since_ms, x.view_seen, x.lapsed);
}

/// A numbered view of the membership table.
struct cluster_view {
  /// 0: no view read yet.
  uint64_t number = 0;
  /// Sorted by name.
  std::vector<cluster_member> members;

  /// The names placement hashes over: the members whose status is `up`
  /// (lapsed ones too: their carts wait until they are removed).
  std::vector<std::string> owners() const;

  /// Whether every member acknowledged this view (view_seen >= number).
  bool settled() const noexcept;

  /// The member called `name`, or nullptr.
  const cluster_member* find(std::string_view name) const noexcept;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("cartd::cluster_view"), x.number, x.members);
}

// -- this node's lease --------------------------------------------------------

/// Until when this node may serve carts, by its own monotonic clock: the
/// moment its last successful renewal was *sent*, plus the lease, minus a
/// safety margin. It is never later than the lease the database granted,
/// so this node stops serving before any other node may take its carts over.
/// Written by the membership worker, read by anyone (lock-free).
class cluster_lease {
public:
  using clock_type = std::chrono::steady_clock;

  /// Whether the lease is valid now.
  bool valid() const noexcept { return valid_at(clock_type::now()); }

  /// Whether the lease is valid at `t`.
  bool valid_at(clock_type::time_point t) const noexcept {
    return t.time_since_epoch().count() <
           until_.load(std::memory_order_acquire);
  }

  /// When the lease ends (the clock's epoch when revoked or never granted).
  clock_type::time_point valid_until() const noexcept {
    return clock_type::time_point{
        clock_type::duration{until_.load(std::memory_order_acquire)}};
  }

  /// Sets the end of the lease to `t`.
  void extend_to(clock_type::time_point t) noexcept {
    until_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

  /// Ends the lease now.
  void revoke() noexcept { until_.store(0, std::memory_order_release); }

private:
  std::atomic<clock_type::rep> until_{0};
};

} // namespace cartd

CAF_BEGIN_TYPE_ID_BLOCK(cartd_cluster, caf::id_block::cartd_runtime::end)
  CAF_ADD_TYPE_ID(cartd_cluster, (cartd::cluster_member))
  CAF_ADD_TYPE_ID(cartd_cluster, (cartd::cluster_view))
CAF_END_TYPE_ID_BLOCK(cartd_cluster)
