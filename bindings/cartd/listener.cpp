#include "bindings/cartd/listener.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

namespace cartd {

bound_listener listen_on(const std::string& host, uint16_t port) {
  auto address = (host.empty() ? std::string{"0.0.0.0"} : host) + ":" +
                 std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  auto rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                          service.c_str(), &hints, &found);
  if (rc != 0)
    return {-1, "cannot listen on " + address + ": " + ::gai_strerror(rc)};
  int err = 0;
  int fd = -1;
  for (auto* x = found; x != nullptr && fd < 0; x = x->ai_next) {
    fd = ::socket(x->ai_family, x->ai_socktype | SOCK_CLOEXEC, x->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        ::bind(fd, x->ai_addr, x->ai_addrlen) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd >= 0)
    return {fd, {}};
  std::string why = std::strerror(err);
  if (!why.empty())
    why[0] =
        static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  if (err == EADDRINUSE)
    why += " (another process listens there: stop it, or give this node "
           "another --http.port)";
  else if (err == EADDRNOTAVAIL)
    why += " (no interface of this machine has that address: "
           "--http.host)";
  return {-1, "cannot listen on " + address + ": " + why};
}

} // namespace cartd
