#pragma once

// A throwaway PostgreSQL 15 server for tests: initdb into a fresh temporary
// directory, started on a free port of 127.0.0.1 (its unix socket in the
// same directory). As root, the server runs as user `postgres` (runuser),
// since PostgreSQL refuses to run as root. Start one per test binary and give
// each test case a schema of its own.
//
//   static test::postgres_server server;
//   auto journal = pg_journal::open({server.conninfo(), "case_1"});
//   server.crash();   // like kill -9: the data stays
//   server.start();   // the same data on the same port

#include <cstdint>
#include <string>

namespace cartd::test {

/// A PostgreSQL server in a temporary directory, stopped and removed by the
/// destructor. Not copyable.
class postgres_server {
public:
  /// The server binaries (Debian's postgresql-15).
  static constexpr const char* bin_dir = "/usr/lib/postgresql/15/bin";

  /// Runs initdb (trust authentication, superuser `postgres`) and starts the
  /// server. Throws std::runtime_error with the failing command's output.
  postgres_server();

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  /// Stops the server (immediate mode) and removes its directory. Should
  /// the test process be killed instead, a watchdog process does it.
  ~postgres_server();

  /// The TCP port on 127.0.0.1.
  uint16_t port() const noexcept { return port_; }

  /// The directory holding the data (`data/`), the log (`server.log`) and
  /// the unix socket.
  const std::string& dir() const noexcept { return dir_; }

  /// "host=127.0.0.1 port=N user=postgres dbname=postgres connect_timeout=2"
  std::string conninfo() const;

  /// Stops the server without a checkpoint (`pg_ctl -m immediate stop`):
  /// every connection is cut as by kill -9, and the next start() recovers
  /// from the WAL. Throws std::runtime_error when pg_ctl fails.
  void crash();

  /// Starts the stopped server again: the same data on the same port. Waits
  /// until it accepts connections; throws std::runtime_error when it does
  /// not.
  void start();

  /// Whether the server is running (as far as this object knows).
  bool running() const noexcept { return running_; }

  /// Runs `sql` on a fresh connection and returns the first column of the
  /// first row ("" if there is none, or it is NULL). Throws
  /// std::runtime_error with the server's message on an error.
  std::string query(const std::string& sql) const;

private:
  void start_on(uint16_t port);

  /// Starts a process that stops the server and removes its directory once
  /// this process is gone, also when it was killed (a test timeout).
  void start_watchdog();

  std::string dir_;
  uint16_t port_ = 0;
  bool running_ = false;
  int watchdog_ = 0;
};

} // namespace cartd::test
