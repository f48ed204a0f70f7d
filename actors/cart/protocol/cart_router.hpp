#pragma once

// The cart router: in a cluster, what a node's front ends ask for carts
// instead of the local cart directory, and what the other nodes' routers ask
// over BASP. One per node; it is the actor the node publishes on its
// node-to-node port. Implementation: actors/cart/cluster.
//
// cart_router_actor
//   (resolve_atom, cart_id, request_id) -> cart_actor
//   (resolve_atom, cart_id) -> cart_actor    (no request id: the same
//       message as cart_directory_actor's, so whoever takes a directory
//       takes the router)
//       front end: the actor of the cart wherever its owner (placement
//       over the current view) runs: a local cart, or a remote one reached
//       in one hop (a proxy). Waits, within a finite time, while the owner
//       is unreachable but still a member, or the cart must activate here and
//       the view is not settled; errors: cart_errc::invalid_cart_id,
//       cart_errc::unavailable (not serving: no valid lease; or the owner
//       did not become reachable in time)
//   (route_atom, cart_id, request_id) -> cart_actor
//       a peer router: the cart, if this node owns it under its view (and
//       the view is settled, or the cart is resident); cart_errc::unavailable
//       otherwise (the asking router routes again on its next view)
//   request_id: the X-Request-Id of the HTTP request the cart is wanted for
//   (empty: none), carried along so that the routers' lines about it, on
//   either node, name it (see "Request ids" in cart_actor.hpp)
//   (subscribe_atom, caf::actor front_end, std::string http) -> void
//       a front end and its HTTP address (host:port). The first subscription
//       starts the membership worker (the router needs both addresses to
//       join). Subscribers get, until they quit:
//         (view_atom, cluster_state)     at every change of view, lease or
//                                        reachability, and once at once
//         (peer_down_atom, caf::node_id) a node became unreachable or left
//                                        the view: requests in flight to
//                                        actors there will never be answered,
//                                        route them again
//   (get_atom, cluster_atom) -> cluster_state
//       what GET /cluster shows
//   (leave_atom) -> bool
//       graceful leave: mark this node leaving, hand every cart over
//       (passivate them; the new owners activate them once the view
//       settled), and answer true once done (false: gave up after a bound);
//       the row is deleted when the router stops

#include <cstdint>
#include <string>
#include <vector>

#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/cluster/cluster.hpp"

namespace cartd {

/// A member as this node sees it.
struct cluster_member_state {
  cluster_member member;
  /// Its CAF node (default-constructed until connected), which tells a
  /// front end who answered through a cart handle (`handle.node()`).
  caf::node_id node;
  /// Connected over BASP now (always true for this node itself).
  bool reachable = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_member_state& x) {
  return f(caf::meta::type_name("cartd::cluster_member_state"), x.member,
           x.node, x.reachable);
}

/// The cluster as this node's router sees it.
struct cluster_state {
  /// This node's name and current incarnation (0: not a member now).
  std::string self;
  uint64_t incarnation = 0;
  /// The number of the view installed (0: none yet).
  uint64_t view = 0;
  /// Whether this node serves carts now (joined, lease valid).
  bool serving = false;
  /// Whether the installed view is settled (see runtime/cluster/cluster.hpp).
  bool settled = false;
  std::vector<cluster_member_state> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_state& x) {
  return f(caf::meta::type_name("cartd::cluster_state"), x.self, x.incarnation,
           x.view, x.serving, x.settled, x.members);
}

using cart_router_actor = caf::typed_actor<
    caf::replies_to<resolve_atom, std::string, std::string>::with<cart_actor>,
    caf::replies_to<resolve_atom, std::string>::with<cart_actor>,
    caf::replies_to<route_atom, std::string, std::string>::with<cart_actor>,
    caf::reacts_to<subscribe_atom, caf::actor, std::string>,
    caf::replies_to<caf::get_atom, cluster_atom>::with<cluster_state>,
    caf::replies_to<leave_atom>::with<bool>>;

} // namespace cartd

CAF_BEGIN_TYPE_ID_BLOCK(cartd_router, caf::id_block::cartd_cart::end)
  CAF_ADD_TYPE_ID(cartd_router, (cartd::cluster_member_state))
  CAF_ADD_TYPE_ID(cartd_router, (cartd::cluster_state))
  CAF_ADD_TYPE_ID(cartd_router, (cartd::cart_router_actor))
CAF_END_TYPE_ID_BLOCK(cartd_router)
