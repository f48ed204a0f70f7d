#include "bindings/http/socket_writes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>

#include <caf/io/broker.hpp>

#include "runtime/core/caf_shims.hpp"

namespace cartd::http {

namespace {

int port_of(const sockaddr_storage& x) {
  if (x.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(x).sin_port);
  if (x.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(x).sin6_port);
  return -1;
}

} // namespace

int direct_socket(caf::io::broker* self, caf::io::connection_handle hdl,
                  uint16_t local_port) {
  auto fd = caf_shims::socket_of(hdl);
  if (fd < 0)
    return -1;
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_len = sizeof(local);
  socklen_t peer_len = sizeof(peer);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    return -1;
  if (port_of(local) != local_port || port_of(peer) != self->remote_port(hdl))
    return -1;
  return fd;
}

void send_out(caf::io::broker* self, caf::io::connection_handle hdl,
              direct_writes* w, std::string_view head, std::string_view body) {
  size_t sent = 0;
  if (w != nullptr && w->fd >= 0 && !w->caf_writing) {
    iovec iov[2];
    iov[0].iov_base = const_cast<char*>(head.data());
    iov[0].iov_len = head.size();
    iov[1].iov_base = const_cast<char*>(body.data());
    iov[1].iov_len = body.size();
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = body.empty() ? 1 : 2;
    ssize_t n;
    do {
      n = ::sendmsg(w->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
      sent = static_cast<size_t>(n);
    if (sent == head.size() + body.size())
      return;
  }
  // From here on CAF holds bytes for the connection: say so, and have CAF
  // report when it wrote them (the server closes a connection only then,
  // or aborts it).
  if (w != nullptr && !w->caf_writing) {
    w->caf_writing = true;
    self->ack_writes(hdl, true);
  }
  auto& buf = self->wr_buf(hdl);
  if (sent < head.size())
    buf.insert(buf.end(), head.begin() + static_cast<ptrdiff_t>(sent),
               head.end());
  auto body_sent = sent > head.size() ? sent - head.size() : 0;
  buf.insert(buf.end(), body.begin() + static_cast<ptrdiff_t>(body_sent),
             body.end());
  self->flush(hdl);
}

} // namespace cartd::http
