#pragma once

// Accepting connections without spinning at the descriptor limit.
//
// CAF 0.17.6's acceptor (policy::tcp::try_accept) ignores a failed accept:
// at EMFILE the listening socket stays readable, epoll reports it again at
// once, and the I/O thread spins at 100 % while accepting nothing, without
// a log line. `new_paced_doorman` builds a doorman like CAF's own
// (network::doorman_impl) whose accept, when it fails for lack of
// resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), takes the listening socket
// out of the event loop and tells its broker
//
//   (accept_paused_atom, int32_t errno)
//
// The broker puts it back with `trigger(accept_handle)` when it wants to try
// again. Waiting connections stay in the listen backlog meanwhile.
//
// The scribes it makes for accepted connections are CAF's own
// (network::scribe_impl) except that one closed in the event-loop round it
// was accepted in is freed: CAF 0.17.6 squashes the queued add and delete of
// its socket into nothing and never tells the stream, whose reference to its
// scribe then kept both (and the socket) alive. The doorman has the same fix
// for its own listening socket.
//
// Assumes (CAF 0.17.6): network::acceptor_impl<Policy> calls
// Policy::try_accept(native_socket&, native_socket) on every read event of
// the listening socket and hands what it accepted to the doorman's
// new_connection(); a doorman's remove_from_loop/add_to_loop (the broker's
// halt/trigger) take the socket out of the loop and put it back; the
// default multiplexer is a network::default_multiplexer (otherwise, e.g.
// with CAF's test multiplexer, this is CAF's own doorman).
// Test: tests/bindings/http/paced_acceptor_test.cpp.

#include <cstdint>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/network/multiplexer.hpp>

namespace cartd::http {

/// What a paced doorman tells its broker when an accept failed for lack of
/// descriptors or memory; the doorman is out of the event loop then.
using accept_paused_atom = caf::atom_constant<caf::atom("http_accp")>;

/// Opens a TCP listening socket on `host:port` (nullptr: any address; port
/// 0: a free port) and returns its doorman, to be added to a broker with
/// add_doorman.
caf::expected<caf::io::doorman_ptr>
new_paced_doorman(caf::io::network::multiplexer& mpx, uint16_t port,
                  const char* host, bool reuse_addr);

/// The doorman of `fd`, a socket that already listens (bound by the caller);
/// the doorman owns it from here on.
caf::expected<caf::io::doorman_ptr>
new_paced_doorman(caf::io::network::multiplexer& mpx,
                  caf::io::network::native_socket fd);

} // namespace cartd::http
