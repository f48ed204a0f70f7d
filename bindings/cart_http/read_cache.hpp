#pragma once

// The front end's read cache: per cart id, the handle of the cart's actor and,
// once the cart said which incarnation that handle is, the latest copy of the
// cart rendered as JSON. GET answers from a copy only while it is current.
//
// When a copy is current. A front end that watches a cart incarnation
// (watch_atom) gets every change that incarnation stores, pushed before the
// cart replies to the request that made it (changed_atom), and gone_atom when
// the incarnation ends. A copy is current from the watch reply (or a push) of
// its incarnation until that incarnation's gone_atom, and GET serves it then:
// no client can have been told of a change the copy lacks, because the push
// of each change is sent before the reply that acknowledges it, and between
// two actors in one process CAF delivers in order; every acknowledgement on
// this node travels through this front end's own broker, after the push. So
// reads served from the cache are linearizable with the node's writes.
//
// The rules, each with a unit test (tests/bindings/cart_http):
//   * The incarnation behind a cached handle is learned from the first reply
//     through that handle; views of any other incarnation (a late reply of a
//     handle dropped since, a push from an incarnation no longer cached) are
//     ignored, so a copy of another incarnation is never served.
//   * Within an incarnation a newer version replaces an older one, never the
//     reverse (an Idempotency-Key replay answers with an old view).
//   * Only a watched copy is served: a copy learned from a reply to a change
//     or a plain get is used to render that cart's replies, nothing else.
//   * gone_atom drops the cart only if it names the cached incarnation.
//   * At most `capacity` carts: a full cache drops one picked at random per
//     cart it takes in (dropping all at once stalled the I/O thread; its
//     pushes are ignored until a GET watches it again).
//
// Where the cache lives once carts can live on other nodes (decided in issue
// 10, for the cluster): a front end caches only carts whose actor lives on
// its own node. The argument above needs the push to this front end and the
// reply to any client to be ordered, which CAF guarantees between two actors
// in one process but not across nodes: a push to node B and a reply relayed
// through node A travel on different connections, so a client could be told
// of a change before B's copy has it. So a front end never caches a cart
// owned by another node; it forwards the request to the owner, which answers
// from its own cache or its cart. When a cart moves (handoff, failover) its
// incarnation ends: the copy dies with the old incarnation's gone_atom or,
// when the old owner's node died, with the membership view change that
// declares it dead; a node that loses its lease stops serving and drops its
// whole cache. Incarnations are random 64-bit numbers, unique across nodes,
// so a copy can never be mistaken for another node's incarnation of the
// same cart.
//
// Plain C++: no actor, no message; the cart routes (cart_routes.cpp) are
// the glue that feeds it replies and pushes. `Handle` is what the routes
// send requests to (cart_actor there; anything comparable in tests).

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>

#include "actors/cart/protocol/cart_actor.hpp"
#include "bindings/cart_http/cart_json.hpp"
#include "bindings/http/http.hpp"

namespace cartd {

template <class Handle>
class read_cache {
public:
  /// What the cache holds for one cart.
  struct entry {
    Handle handle;
    /// The incarnation behind `handle` (0: no reply through it yet).
    uint64_t incarnation = 0;
    /// The copy is watched: `body` is the incarnation's current state.
    bool current = false;
    uint64_t version = 0;
    /// The copy rendered as JSON (empty: no copy yet) and its ETag.
    std::string body;
    std::string etag;
  };

  /// A cache of at most `capacity` carts (0: caches nothing).
  explicit read_cache(size_t capacity) : capacity_(capacity) {
    // nop
  }

  // -- lookups ----------------------------------------------------------------

  /// The current copy of cart `id`, or nullptr when the cache holds no
  /// watched copy of it. The GET path: one hash lookup.
  const entry* find(const std::string& id) const {
    auto i = entries_.find(id);
    if (i == entries_.end() || !i->second.current)
      return nullptr;
    return &i->second;
  }

  /// The cached handle of cart `id`, or nullptr.
  const Handle* handle(const std::string& id) const {
    auto i = entries_.find(id);
    return i != entries_.end() ? &i->second.handle : nullptr;
  }

  size_t size() const noexcept { return entries_.size(); }

  size_t capacity() const noexcept { return capacity_; }

  /// Renders `view`, reusing the cached body when it is the same
  /// incarnation's same version (a hot cart renders once per change, not per
  /// read).
  http::response render(const cart_view& view) const {
    auto i = entries_.find(view.id);
    if (i == entries_.end() || i->second.body.empty() ||
        i->second.incarnation != view.incarnation ||
        i->second.version != view.version)
      return cart_reply(view);
    http::response result;
    result.body = i->second.body;
    result.headers.emplace_back("ETag", i->second.etag);
    return result;
  }

  // -- updates ----------------------------------------------------------------

  /// Caches `handle` for cart `id` (the directory resolved it), without a
  /// copy; when full, first drops another cart picked at random.
  void remember(const std::string& id, Handle handle) {
    if (capacity_ == 0)
      return;
    if (entries_.size() >= capacity_ && entries_.count(id) == 0)
      evict_one();
    entry e;
    e.handle = std::move(handle);
    entries_.insert_or_assign(id, std::move(e));
  }

  /// Takes `view`, a reply to a get, a change or a crash request sent
  /// through `asked`.
  void on_view(const Handle& asked, const cart_view& view) {
    learn(&asked, view, false);
  }

  /// Takes `view`, the reply to a watch request sent through `asked`: the
  /// copy is current from now on.
  void on_watched(const Handle& asked, const cart_view& view) {
    learn(&asked, view, true);
  }

  /// Takes `view`, a change a watched cart pushed: current from now on if it
  /// is the cached incarnation's.
  void on_changed(const cart_view& view) { learn(nullptr, view, true); }

  /// The incarnation `incarnation` of cart `id` ended: drops the cart if
  /// that is the incarnation cached.
  void on_gone(const std::string& id, uint64_t incarnation) {
    auto i = entries_.find(id);
    if (i != entries_.end() && incarnation != 0 &&
        i->second.incarnation == incarnation)
      entries_.erase(i);
  }

  /// Drops cart `id` (a request to it failed with a 5xx).
  void forget(const std::string& id) { entries_.erase(id); }

  /// Drops every cart whose handle satisfies `pred` (cluster mode: the
  /// handles of a node that went down). Returns how many.
  template <class Pred>
  size_t forget_if(Pred pred) {
    size_t result = 0;
    for (auto i = entries_.begin(); i != entries_.end();) {
      if (pred(i->second.handle)) {
        i = entries_.erase(i);
        ++result;
      } else {
        ++i;
      }
    }
    return result;
  }

  /// Drops everything (cluster mode: this node lost its lease).
  void clear() { entries_.clear(); }

private:
  // `asked`: the handle a reply came through (nullptr for a push).
  void learn(const Handle* asked, const cart_view& view, bool watched) {
    auto i = entries_.find(view.id);
    if (i == entries_.end())
      return;
    auto& e = i->second;
    if (asked != nullptr && e.incarnation == 0 && e.handle == *asked)
      e.incarnation = view.incarnation;
    if (e.incarnation == 0 || e.incarnation != view.incarnation)
      return;
    if (watched)
      e.current = true;
    if (!e.body.empty() && e.version >= view.version)
      return;
    auto rendered = cart_reply(view);
    e.version = view.version;
    e.body = std::move(rendered.body);
    e.etag = std::move(rendered.headers.front().second);
  }

  void evict_one() {
    // A random bucket's first entry: the buckets are at most as many as
    // twice the entries, so a few draws find a full one.
    auto buckets = entries_.bucket_count();
    for (;;) {
      auto b = static_cast<size_t>(random_()) % buckets;
      if (entries_.bucket_size(b) != 0) {
        auto key = entries_.begin(b)->first;
        entries_.erase(key);
        return;
      }
    }
  }

  size_t capacity_;
  std::unordered_map<std::string, entry> entries_;
  std::minstd_rand random_;
};

} // namespace cartd
