#pragma once

// The gRPC front end: the cartd.v1.Carts service (cart.proto) on gRPC's
// callback API, the standard health checking service and server reflection.
// Each handler checks the request (ids, quantity, idempotency-key, the same
// rules as HTTP: actors/cart/protocol/request_rules.hpp and the model), sends
// it to the bridge (grpc_bridge.hpp) and returns; the bridge finishes the
// call from its actor when the cart answers. gRPC's threads never wait for
// an actor. Errors: status_map.hpp.
//
// This header includes no gRPC header (pimpl): the composition root
// (bindings/cartd) stays free of them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bindings/grpc/grpc_bridge.hpp"

namespace cartd {

/// Options of the gRPC front end.
struct grpc_server_settings {
  /// Where to listen (--grpc.host, --grpc.port).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// Largest request message accepted (http.max-body-size): larger ones are
  /// answered RESOURCE_EXHAUSTED by gRPC.
  size_t max_message_size = 64 * 1024;
};

/// A running gRPC server. Not copyable; the destructor stops it at once.
class grpc_front_end {
public:
  /// Binds settings.host:settings.port and serves, handing calls to the
  /// bridge in `bridge`. Null and a description in `problem` if the port
  /// cannot be bound.
  static std::unique_ptr<grpc_front_end>
  start(const grpc_server_settings& settings,
        std::shared_ptr<grpc_bridge_slot> bridge, std::string& problem);

  grpc_front_end(const grpc_front_end&) = delete;
  grpc_front_end& operator=(const grpc_front_end&) = delete;

  ~grpc_front_end();

  /// The bound port.
  uint16_t port() const noexcept;

  /// Reports NOT_SERVING on the health service, ends every WatchCart stream
  /// (UNAVAILABLE), refuses new calls and waits up to `grace` for the calls
  /// in flight (then cancels them). Blocks: call it from a thread that is
  /// not an actor's (main's signal thread). Idempotent.
  void stop(std::chrono::milliseconds grace);

  struct impl;

private:
  explicit grpc_front_end(std::unique_ptr<impl> x);

  std::unique_ptr<impl> impl_;
};

} // namespace cartd
