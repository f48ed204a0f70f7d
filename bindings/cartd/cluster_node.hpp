#pragma once

// What cluster mode adds to a node (--cluster.enabled): the pieces the
// journal, the carts, the router, the membership worker and the front end
// share, and the router's place in the supervision tree:
//
//   root (rest_for_one)
//   ├── journal    appends fenced by this node's membership row
//   ├── carts      every cart checks this node's lease
//   ├── cluster    the cart router, published on --cluster.host:port; it
//   │              starts the membership worker once the front end
//   │              subscribed with its bound HTTP address
//   └── http       resolves carts through the router
//
// A restarted router restarts the front end (it holds the router's handle).

#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "bindings/cartd/cartd_config.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/cluster/member_store.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"
#include "runtime/metrics/node_metrics.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd {

/// The router's current handle, for the signal thread (graceful leave).
class router_slot {
public:
  void set(caf::actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    router_ = std::move(x);
  }

  caf::actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return router_;
  }

private:
  mutable std::mutex mtx_;
  caf::actor router_;
};

/// What a cluster node's pieces share. All null when cluster mode is off.
struct cluster_parts {
  /// This node's membership row (name; incarnation set by the membership
  /// worker), checked by every journal append.
  std::shared_ptr<journal_fence> fence;
  /// This node's lease, written by the membership worker.
  std::shared_ptr<cluster_lease> lease;
  /// The membership table's connection, opened at start so that a node that
  /// cannot reach it refuses to start; the first membership worker takes it
  /// (a worker started again after a router restart opens its own).
  std::shared_ptr<std::unique_ptr<member_store>> store;
  std::shared_ptr<router_slot> router;
  /// What this node's links speak, recorded in its membership row and
  /// checked against the live members' (transport_name).
  std::string transport = "plain";

  explicit operator bool() const noexcept { return lease != nullptr; }
};

/// The fence and lease of a cluster node (cluster mode), or null parts.
cluster_parts make_cluster_parts(const cartd_config& cfg);

/// Opens the membership table's connection into `parts` (after the journal
/// created its schema). Fails like the journal, never naming a password,
/// and when a live member speaks another transport than parts.transport.
caf::error open_member_store(const cartd_config& cfg, cluster_parts& parts);

/// The router's child spec (id "cluster"), to start after the carts.
/// `metrics`: the node's (null: not counted).
supervision::child_spec
cluster_child_spec(const cartd_config& cfg, const cluster_parts& parts,
                   std::shared_ptr<metrics::node_metrics> metrics = nullptr);

} // namespace cartd
