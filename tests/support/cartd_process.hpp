#pragma once

// Starts the real `cartd` binary as a child process for end-to-end tests.
//
//   cartd_process node{cartd_binary(), {"--http.idle-timeout=1s"}};
//   http_connection conn{node.port()};
//   ...
//   node.kill(SIGTERM);
//   auto status = node.wait_exit(std::chrono::seconds{10});
//
// Each process gets its own temporary directory (also its working directory,
// so no stray caf-application.ini is read) holding the port file and the
// child's stdout and stderr.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace cartd::test {

/// How a child process ended.
struct exit_status {
  /// The exit code if the process exited normally, else -1.
  int code = -1;
  /// The signal that ended the process, else 0.
  int signal = 0;

  bool exited_normally() const noexcept { return signal == 0 && code >= 0; }
};

/// What a short-lived run of the binary (e.g. `--help`) produced.
struct run_result {
  /// Empty if the process did not end in time (it was then killed).
  std::optional<exit_status> status;
  std::string out;
  std::string err;
};

/// A running `cartd` child process. Not copyable; the destructor kills the
/// child with SIGKILL if it still runs and removes its temporary directory.
class cartd_process {
public:
  /// Starts `binary` with `args`, adding `--http.port=0`,
  /// `--http.port-file=<dir>/port` and `--storage.backend=memory` for each of
  /// these options that `args` does not set. Waits up to 10 s for the port
  /// file; throws `std::runtime_error` (carrying the child's stderr) if the
  /// child exits or the port does not appear in time.
  explicit cartd_process(std::string binary,
                         std::vector<std::string> args = {});

  /// Runs `binary` with `args` plus the same defaults, without waiting for a
  /// port, until it exits or `timeout` passes (then it is killed).
  static run_result run(std::string binary, std::vector<std::string> args,
                        std::chrono::milliseconds timeout);

  cartd_process(const cartd_process&) = delete;
  cartd_process& operator=(const cartd_process&) = delete;

  ~cartd_process();

  // -- inspectors -------------------------------------------------------------

  /// The port the node listens on.
  uint16_t port() const noexcept { return port_; }

  pid_t pid() const noexcept { return pid_; }

  /// The temporary directory of this process.
  const std::string& dir() const noexcept { return dir_; }

  /// The child's stderr so far, from byte `offset` on.
  std::string stderr_text(size_t offset = 0) const;

  /// The child's stdout so far.
  std::string stdout_text() const;

  /// Size of the child's stderr so far (an offset for `stderr_text`).
  size_t stderr_size() const;

  // -- modifiers --------------------------------------------------------------

  /// Sends `sig` to the child unless it has already been reaped.
  void kill(int sig);

  /// Waits up to `timeout` for the child to end. Returns its status, or
  /// nothing if it still runs.
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout);

  /// Whether the child still runs (reaps it if it ended).
  bool running();

  /// Waits up to 10 s for the port file `name` in dir() (a relative
  /// `--admin.port-file=NAME`: the child runs in dir()) and returns the port;
  /// throws like the constructor.
  uint16_t wait_port_file(const std::string& name);

private:
  cartd_process() = default;

  void start(const std::string& binary, std::vector<std::string> args);

  void wait_for_port();

  std::optional<exit_status> try_reap();

  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::optional<exit_status> status_;
};

} // namespace cartd::test
