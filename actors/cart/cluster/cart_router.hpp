#pragma once

// The cart router's implementation side: how a node spawns it. Its messages
// are in actors/cart/protocol/cart_router.hpp; how it routes is in this
// folder's README.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/protocol/cart_router.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace cartd {

/// How a node's router runs.
struct cart_router_settings {
  /// This node's name (--cluster.node).
  std::string self;
  /// Where to publish the router for the other nodes (--cluster.host,
  /// --cluster.port; port 0 picks a free one).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// --cluster.heartbeat and --cluster.lease.
  caf::timespan heartbeat = caf::timespan{std::chrono::milliseconds{500}};
  caf::timespan lease = caf::timespan{std::chrono::seconds{2}};
  /// Bounds every wait: a parked resolve, a request to another node.
  caf::timespan request_timeout = caf::timespan{std::chrono::seconds{5}};
  /// This node's lease, written by the membership worker.
  std::shared_ptr<cluster_lease> lease_clock;
  /// Starts the membership worker (with `listener` = the router) once the
  /// router knows this node's HTTP address (host:port) and its published
  /// node-to-node address (host:port). The router links to it, so it stops
  /// (and deletes this node's row) with the router.
  std::function<caf::actor(caf::actor_system& sys, const std::string& http,
                           const std::string& cluster, caf::actor listener)>
      start_membership;
  /// What the router publishes itself and connects to peers through: an
  /// actor answering caf::io::middleman_actor's publish_atom and
  /// connect_atom (runtime/cluster/peer_links.hpp). Null: this system's
  /// middleman (a node); deterministic tests pass a plain actor instead.
  caf::actor links;
  /// The node's metrics: members and number of the installed view, carts
  /// handed over (null: not counted).
  std::shared_ptr<metrics::node_metrics> metrics;
};

/// Spawns the router of this node over its local cart directory, as a child
/// of `parent`.
cart_router_actor spawn_cart_router(caf::event_based_actor* parent,
                                    cart_router_settings settings,
                                    cart_directory_actor local);

} // namespace cartd
