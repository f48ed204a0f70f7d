#pragma once

// The cluster front end's requests in flight to other nodes, by node, so that
// they can be routed again the moment the router reports a node down
// (`(peer_down_atom, node)`): a request to an actor on a node that died or
// froze is never answered (CAF only times it out), and waiting for the
// timeout is what made failover slow in Akka and Orleans.
//
// Each request to a remote cart is tracked with what to do should its node go
// down (re-send a read or a keyed change through the router; answer an
// unkeyed change "may or may not have been applied"). Its reply settles it;
// a reply that comes after its request was re-routed finds nothing to settle
// and is ignored (the re-routed request answers the client).
//
// Plain C++ (no actor): the cart routes are the glue. `NodeId` is
// caf::node_id there; anything ordered in tests.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

namespace cartd {

template <class NodeId>
class peer_requests {
public:
  /// What to do with a request whose node went down.
  using reroute_fn = std::function<void()>;

  /// A request on its way to `node`; returns its token for `settle`.
  uint64_t track(const NodeId& node, reroute_fn reroute) {
    auto token = ++last_token_;
    by_node_[node].emplace(token, std::move(reroute));
    return token;
  }

  /// The reply of request `token` to `node` arrived: returns true if it is
  /// still in flight (handle the reply), false if it was routed again
  /// meanwhile (ignore the reply).
  bool settle(const NodeId& node, uint64_t token) {
    auto i = by_node_.find(node);
    if (i == by_node_.end() || i->second.erase(token) == 0)
      return false;
    if (i->second.empty())
      by_node_.erase(i);
    return true;
  }

  /// `node` went down: every request in flight to it is routed again (each
  /// one's reroute runs once, and may track new requests). Returns how many.
  size_t on_peer_down(const NodeId& node) {
    auto i = by_node_.find(node);
    if (i == by_node_.end())
      return 0;
    auto pending = std::move(i->second);
    by_node_.erase(i);
    for (auto& entry : pending)
      entry.second();
    return pending.size();
  }

  /// Requests in flight to `node`.
  size_t in_flight(const NodeId& node) const {
    auto i = by_node_.find(node);
    return i == by_node_.end() ? 0 : i->second.size();
  }

  /// Requests in flight to any node.
  size_t size() const {
    size_t result = 0;
    for (auto& entry : by_node_)
      result += entry.second.size();
    return result;
  }

private:
  uint64_t last_token_ = 0;
  std::map<NodeId, std::unordered_map<uint64_t, reroute_fn>> by_node_;
};

} // namespace cartd
