#include "tests/support/notify_socket.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace cartd::test {

notify_socket::notify_socket()
    : dir_("cartd-notify-"), path_(dir_.path() + "/notify") {
  sockaddr_un addr{};
  if (path_.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("notify socket path too long: " + path_);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    throw std::runtime_error(std::string{"socket: "} + std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path_.c_str());
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto why = std::string{"bind "} + path_ + ": " + std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error(why);
  }
  ::chmod(dir_.path().c_str(), 0755);
  ::chmod(path_.c_str(), 0666);
  ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
}

notify_socket::~notify_socket() {
  ::unsetenv("NOTIFY_SOCKET");
  ::close(fd_);
}

std::optional<std::string>
notify_socket::wait(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  if (n <= 0)
    return std::nullopt;
  char buf[4096];
  auto got = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
  if (got < 0)
    return std::nullopt;
  return std::string(buf, static_cast<size_t>(got));
}

} // namespace cartd::test
