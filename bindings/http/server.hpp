#pragma once

// The HTTP/1.1 server: one CAF io::broker that owns the listening socket and
// every connection (no broker per connection).
//
// Messages the server broker understands besides its I/O events:
//
//   interface http_server {
//     (get_atom) -> uint16_t   // the bound port
//     exit_msg(reason)          // any reason (trapped): drain, then quit
//                               // with that reason
//   }
//
// Drain: the acceptor closes, GET /ready answers 503, idle connections
// close, in-flight requests are answered with `Connection: close`; the
// broker quits when none is left or after `drain_timeout`.

#include <cstdint>
#include <memory>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "bindings/http/http.hpp"

namespace cartd::http {

/// Binds `cfg.host:cfg.port` (SO_REUSEADDR, so a restarted server can rebind
/// at once; port 0 picks a free port) and spawns the server broker that
/// serves it with `h`. Once the socket listens, writes the bound port to
/// `cfg.port_file` (if set; via a temporary file and rename) and logs
/// "listening on host:port". Connections that arrive before the broker runs
/// wait in the listen backlog. Returns the broker, or why binding or writing
/// the port file failed (nothing is left running then).
caf::expected<caf::actor> spawn_server(caf::actor_system& sys,
                                       server_config cfg,
                                       std::shared_ptr<handler> h);

/// Like the other overload, and stores the bound port in `bound_port`.
/// `listening_fd`: a socket the caller bound already (so that a taken port
/// is reported before anything else starts), served instead of binding
/// `cfg.host:cfg.port`; -1: bind.
caf::expected<caf::actor> spawn_server(caf::actor_system& sys,
                                       server_config cfg,
                                       std::shared_ptr<handler> h,
                                       uint16_t& bound_port,
                                       int listening_fd = -1);

} // namespace cartd::http
