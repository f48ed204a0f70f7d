#pragma once

// The public HTTP port, bound by main before the journal opens: a taken port
// is reported ("address already in use") before a data directory is
// created or a journal opened. The HTTP server then serves this socket
// (node.cpp hands it to http::spawn_server once; a restarted server binds
// again).

#include <cstdint>
#include <string>

namespace cartd {

/// A listening socket, or why there is none.
struct bound_listener {
  /// The socket (listening, close-on-exec), or -1.
  int fd = -1;
  /// Empty with a socket; else e.g. "cannot listen on 127.0.0.1:8080:
  /// address already in use (...)".
  std::string problem;
};

/// Binds `host:port` (SO_REUSEADDR, like CAF's acceptors; empty host: any
/// address; port 0: a free port) and listens.
bound_listener listen_on(const std::string& host, uint16_t port);

} // namespace cartd
