#pragma once

// Aborting a connection: releasing its socket at once, whatever output is
// still unsent (a client that pipelines and never reads must not keep a
// descriptor after the server gave up on it).
//
// CAF 0.17.6's close (abstract_broker::close) is graceful: it detaches the
// connection from the broker at once, but CAF's stream keeps the socket
// until its write buffer is written, which for a client that does not read
// is never (the socket stays open until the client goes away, and no longer
// counts against any limit of the broker). There is no abortive close in
// its API, so `abort_connection` does it through the socket (see
// caf_shims::socket_of for how the server knows it): SO_LINGER with a zero
// timeout (the descriptor's close discards unsent bytes and resets the
// connection) and shutdown(SHUT_RDWR), which makes CAF's pending write fail
// at once (EPIPE), and CAF then releases the connection and closes its
// socket as it does for any failed write.
//
// Assumes (CAF 0.17.6): a scribe with unsent output stays registered for
// writing after close(); a failed write releases it and closes its socket.
// Test: tests/bindings/http/connection_abort_test.cpp
// (`an_aborted_connection_releases_its_socket_despite_unsent_output`).

#include <cstddef>

#include <caf/io/connection_handle.hpp>
#include <caf/io/fwd.hpp>

namespace cartd::http {

/// Closes `hdl` at once, discarding output CAF or the kernel still holds for
/// it, and resets the connection. `fd` is its socket (-1: unknown, then
/// this is CAF's graceful close). The broker hears nothing more of `hdl`.
void abort_connection(caf::io::broker* self, caf::io::connection_handle hdl,
                      int fd);

/// Bytes the kernel still holds unsent (or unacknowledged) on socket `fd`;
/// 0 when `fd` is -1 or the query fails.
size_t unsent_bytes(int fd);

} // namespace cartd::http
