#pragma once

// Counting the sockets this process holds for connections accepted on a
// port (the server's side of them), from /proc/self/fd: what the server
// tests check to see whether the server released a connection's socket.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace cartd::test {

/// Open descriptors of this process that are TCP connections whose local
/// port is `port` (accepted on it; the listening socket has no peer).
inline size_t accepted_sockets(uint16_t port) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator{"/proc/self/fd", ec}) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_len = sizeof(local);
    socklen_t peer_len = sizeof(peer);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) !=
            0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
      continue;
    if ((local.ss_family == AF_INET &&
         ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port) == port) ||
        (local.ss_family == AF_INET6 &&
         ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port) == port))
      ++n;
  }
  return n;
}

} // namespace cartd::test
