#include "bindings/http/connection_abort.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <caf/io/broker.hpp>

namespace cartd::http {

void abort_connection(caf::io::broker* self, caf::io::connection_handle hdl,
                      int fd) {
  if (fd >= 0) {
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::shutdown(fd, SHUT_RDWR);
  }
  self->close(hdl);
}

size_t unsent_bytes(int fd) {
  if (fd < 0)
    return 0;
  int n = 0;
  if (::ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0)
    return 0;
  return static_cast<size_t>(n);
}

} // namespace cartd::http
