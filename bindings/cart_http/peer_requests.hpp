#pragma once

// The cluster front end's requests in flight to other nodes, by node and by
// the remote actor they went to, so that they can be routed again the moment
// either is gone: the router reports a node down (`(peer_down_atom, node)`),
// or a monitored remote cart actor ended (a down_msg). CAF answers neither
// case by itself: a request to an actor on a node that died or froze is
// never answered, and one sent through the proxy of a remote actor that
// ended (a cart that passivated or moved) is silently dropped; only a
// timeout would end them, and waiting for it is what made failover slow in
// Akka and Orleans.
//
// Each request to a remote cart is tracked with what to do should it be cut
// off (re-send a read or a keyed change through the router; answer an
// unkeyed change "may or may not have been applied"). Its reply settles it;
// a reply that comes after its request was re-routed finds nothing to settle
// and is ignored (the re-routed request answers the client).
//
// Plain C++ (no actor): the cart routes are the glue. `NodeId` and `Target`
// are caf::node_id and caf::actor_addr there; anything ordered in tests.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cartd {

template <class NodeId, class Target = NodeId>
class peer_requests {
public:
  /// What to do with a request whose node or target went down.
  using reroute_fn = std::function<void()>;

  /// A request on its way to `target` on `node`; returns its token for
  /// `settle`.
  uint64_t track(const NodeId& node, const Target& target, reroute_fn reroute) {
    auto token = ++last_token_;
    entries_.emplace(token, entry{node, target, std::move(reroute)});
    by_node_[node].insert(token);
    by_target_[target].insert(token);
    return token;
  }

  /// The reply of request `token` arrived: returns true if it is still in
  /// flight (handle the reply), false if it was routed again meanwhile
  /// (ignore the reply).
  bool settle(uint64_t token) {
    auto i = entries_.find(token);
    if (i == entries_.end())
      return false;
    unindex(token, i->second);
    entries_.erase(i);
    return true;
  }

  /// `node` went down: every request in flight to it is routed again (each
  /// one's reroute runs once, and may track new requests). Returns how many.
  size_t on_peer_down(const NodeId& node) {
    auto i = by_node_.find(node);
    if (i == by_node_.end())
      return 0;
    return reroute(std::vector<uint64_t>(i->second.begin(), i->second.end()));
  }

  /// The remote actor `target` ended: its requests in flight are routed
  /// again. Returns how many.
  size_t on_target_down(const Target& target) {
    auto i = by_target_.find(target);
    if (i == by_target_.end())
      return 0;
    return reroute(std::vector<uint64_t>(i->second.begin(), i->second.end()));
  }

  /// Requests in flight to `node`.
  size_t in_flight(const NodeId& node) const {
    auto i = by_node_.find(node);
    return i == by_node_.end() ? 0 : i->second.size();
  }

  /// Requests in flight to any node.
  size_t size() const noexcept { return entries_.size(); }

private:
  struct entry {
    NodeId node;
    Target target;
    reroute_fn reroute;
  };

  size_t reroute(std::vector<uint64_t> tokens) {
    std::vector<reroute_fn> fns;
    for (auto token : tokens) {
      auto i = entries_.find(token);
      if (i == entries_.end())
        continue;
      unindex(token, i->second);
      fns.push_back(std::move(i->second.reroute));
      entries_.erase(i);
    }
    for (auto& fn : fns)
      fn();
    return fns.size();
  }

  void unindex(uint64_t token, const entry& e) {
    auto n = by_node_.find(e.node);
    if (n != by_node_.end()) {
      n->second.erase(token);
      if (n->second.empty())
        by_node_.erase(n);
    }
    auto t = by_target_.find(e.target);
    if (t != by_target_.end()) {
      t->second.erase(token);
      if (t->second.empty())
        by_target_.erase(t);
    }
  }

  uint64_t last_token_ = 0;
  std::unordered_map<uint64_t, entry> entries_;
  std::map<NodeId, std::set<uint64_t>> by_node_;
  std::map<Target, std::set<uint64_t>> by_target_;
};

} // namespace cartd
