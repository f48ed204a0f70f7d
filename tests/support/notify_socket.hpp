#pragma once

// The service manager's end of sd_notify(3), as systemd has it for
// Type=notify: a unix datagram socket at a path in a temporary directory,
// named in this process's $NOTIFY_SOCKET while it lives, so that what this
// process calls or starts (a cartd child) notifies it.
//
//   notify_socket manager;
//   cartd_process node{cartd_binary()};        // inherits $NOTIFY_SOCKET
//   auto ready = manager.wait(10s);          // "READY=1\nSTATUS=..."

#include <chrono>
#include <optional>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace cartd::test {

class notify_socket {
public:
  /// Binds the socket (mode 0666, so a child running as another user can
  /// send) and sets $NOTIFY_SOCKET; throws std::runtime_error on failure.
  notify_socket();

  /// Unsets $NOTIFY_SOCKET and closes the socket.
  ~notify_socket();

  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// The next datagram, waiting up to `timeout` for one (zero: only what is
  /// there now); nothing if none came.
  std::optional<std::string> wait(std::chrono::milliseconds timeout);

private:
  temp_dir dir_;
  std::string path_;
  int fd_ = -1;
};

} // namespace cartd::test
