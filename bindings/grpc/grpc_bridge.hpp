#pragma once

// The CAF side of the gRPC binding: one actor that takes the calls the gRPC
// server decoded (grpc_call) and does what the HTTP cart routes do with a
// request: resolve the cart through the directory (single node) or the
// node's cart router (cluster: any node serves any cart), send it the
// message, and hand the reply to the call's sink, which finishes the gRPC
// call. No gRPC header is included here: the sink is the server's
// (grpc_server.cpp), and the actor is tested with a fake one.
//
// grpc_bridge (dynamically typed; a cart_watcher_actor for the carts it
// watches)
//   (grpc_call)                       get, mutate, watch or unwatch
//   (changed_atom, cart_view)         a watched cart changed: to its streams
//   (gone_atom, cart_id, incarnation) a watched cart ended: watched again
//                                     (which activates it again) while a
//                                     stream wants it
//
// Time: a call carries the client's deadline. Requests to a local cart wait
// until then (without a deadline: until the cart answers, which it always
// does); requests to the router and to another node's cart wait no longer
// than `request_timeout` either (one to a dead node is never answered). A
// request that runs out of time ends in cart_errc::timeout. A cart that
// ended before it handled the request (passivated, restarted) is resolved
// again, a bounded number of times, as over HTTP.
//
// Watches: per cart one watch (watch_atom with the bridge as watcher) shared
// by every stream of that cart; each stream gets the cart when it starts and
// then every change, in order, once each (a new incarnation's first view is
// sent only if its version differs from the last one sent).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/protocol/cart_router.hpp"

namespace cartd {

/// Where the bridge delivers the outcome of one gRPC call. Called on the
/// bridge's thread; implementations must not block.
class grpc_call_sink {
public:
  virtual ~grpc_call_sink();

  /// The cart's answer: ends a unary call; one more message of a watch.
  virtual void on_view(const cart_view& view) = 0;

  /// The call failed with `code` (`detail`: more words, may be empty). Ends
  /// the call.
  virtual void on_error(cart_errc code, const std::string& detail) = 0;

  /// Whether the call ended (answered, cancelled, deadline passed): the
  /// bridge sends it nothing more.
  virtual bool closed() const = 0;
};

/// What a gRPC call asks the bridge.
struct grpc_call {
  enum class kind : uint8_t {
    /// Read the cart (get_atom).
    get,
    /// Send `mutation` to the cart.
    mutate,
    /// Start a stream of the cart's changes.
    watch,
    /// The stream `sink` ended: forget it.
    unwatch,
  };

  kind what = kind::get;
  /// A valid cart id (the server checked it).
  std::string cart;
  cart_mutation mutation;
  /// The client's deadline (time_point::max(): none).
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::time_point::max();
  /// The request's x-request-id (empty: none).
  std::string request_id;
  std::shared_ptr<grpc_call_sink> sink;
};

/// Options of the bridge.
struct grpc_bridge_settings {
  /// Bound of every request to the router or another node's cart, and of
  /// starting a watch (the HTTP request timeout).
  caf::timespan request_timeout = caf::timespan{std::chrono::seconds{5}};
};

/// Spawns the bridge over the node's cart directory (single node).
caf::actor spawn_grpc_bridge(caf::actor_system& sys,
                             cart_directory_actor directory,
                             grpc_bridge_settings settings);

/// Spawns the bridge over the node's cart router (cluster mode).
caf::actor spawn_grpc_bridge(caf::actor_system& sys, cart_router_actor router,
                             grpc_bridge_settings settings);

/// `sink` in a handle whose last copy, when it goes, ends the call with
/// cart_errc::unavailable unless something answered it first. A call sent
/// to a bridge that has just ended (the slot names it until the supervisor
/// has started the next one) is dropped by CAF together with its message;
/// without this, its gRPC call would wait for the client's deadline, or for
/// ever without one. Copies compare equal to `sink` (same get()).
std::shared_ptr<grpc_call_sink>
answer_if_dropped(std::shared_ptr<grpc_call_sink> sink);

/// What the gRPC server shares with the node: the bridge's current handle,
/// read for every call on gRPC's threads and set by the supervisor that
/// starts the bridge (again after a restart); and the node's readiness
/// check, which the server's health service follows.
class grpc_bridge_slot {
public:
  void set(caf::actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    bridge_ = std::move(x);
  }

  caf::actor get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return bridge_;
  }

  /// The node's readiness check (what GET /ready asks): the failing check's
  /// name, empty when ready. Must read atomics only: the server's health
  /// thread calls it.
  void set_readiness(std::function<std::string()> check) {
    std::lock_guard<std::mutex> guard{mtx_};
    readiness_ = std::move(check);
  }

  /// The check that fails now: "starting" until the node has set its check
  /// and started the bridge, then the node's check ("" when ready).
  std::string failing_check() const {
    std::function<std::string()> check;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!bridge_ || !readiness_)
        return "starting";
      check = readiness_;
    }
    return check();
  }

private:
  mutable std::mutex mtx_;
  caf::actor bridge_;
  std::function<std::string()> readiness_;
};

} // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::grpc_call)
