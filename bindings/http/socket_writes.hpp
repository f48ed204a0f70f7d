#pragma once

// How response bytes reach a connection's socket.
//
// CAF 0.17 writes only from its event loop: a flush registers the socket for
// EPOLLOUT and unregisters it once the buffer is written, two epoll_ctl
// calls and an extra loop round per response (about 15% of a GET). So while
// CAF holds nothing for a connection, `send_out` writes straight to the
// (non-blocking) socket with sendmsg, and hands only what the socket does
// not take now to CAF, which then writes it and everything after it in order
// until data_transferred_msg says it is done. A socket error is left to CAF
// too: it meets the same error on its write and reports
// connection_closed_msg as usual.
//
// This relies on CAF's default multiplexer naming a connection by its socket
// (caf_shims::socket_of); `direct_socket` checks it per connection and
// answers -1 where it does not hold (e.g. a test multiplexer), and
// `server_config::direct_writes` turns the direct path off altogether.

#include <cstdint>
#include <string_view>

#include <caf/io/connection_handle.hpp>
#include <caf/io/fwd.hpp>

namespace cartd::http {

/// A connection's side of the direct write path.
struct direct_writes {
  /// The socket to write to directly; -1: always through CAF's write buffer.
  int fd = -1;
  /// CAF holds bytes for this connection (set whenever bytes go through
  /// CAF's write buffer, on either path, with CAF reporting its writes
  /// then; the server clears it when data_transferred_msg reports nothing
  /// remaining): later bytes must queue behind them, and closing the
  /// connection waits for them.
  bool caf_writing = false;
};

/// The socket behind `hdl` when writing to it directly is safe: the socket
/// CAF's default multiplexer names `hdl` by, checked against the
/// connection's ports (ours: `local_port`, the listening port; the peer's:
/// what CAF reports for the handle); -1 otherwise.
int direct_socket(caf::io::broker* self, caf::io::connection_handle hdl,
                  uint16_t local_port);

/// Sends `head` then `body` on `hdl`: directly while `w` has a socket and
/// CAF holds nothing for the connection, else (and for what the socket did
/// not take) through CAF's write buffer, setting `w->caf_writing` and
/// asking CAF to report its writes (`ack_writes`) once it holds bytes. `w`
/// may be nullptr (a connection without state): always through CAF.
void send_out(caf::io::broker* self, caf::io::connection_handle hdl,
              direct_writes* w, std::string_view head, std::string_view body);

} // namespace cartd::http
