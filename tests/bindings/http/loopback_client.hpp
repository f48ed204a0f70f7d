#pragma once

// A test's client socket connected to a server on 127.0.0.1: what the
// broker tests (connection_abort, paced_acceptor, socket_writes) open to
// talk to the server they run.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>

#include <boost/test/unit_test.hpp>

namespace cartd::test {

/// A socket connected to 127.0.0.1:`port` (the caller closes it). The
/// kernel completes the handshake whether or not the server accepts.
/// `receive_timeout` > 0: a read waits no longer (SO_RCVTIMEO), so a test
/// whose server never answers fails instead of hanging.
inline int connect_loopback(uint16_t port,
                            std::chrono::seconds receive_timeout = {}) {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  if (receive_timeout.count() > 0) {
    timeval tv{static_cast<time_t>(receive_timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  BOOST_REQUIRE(
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

} // namespace cartd::test
