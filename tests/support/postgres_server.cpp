#include "tests/support/postgres_server.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

namespace cartd::test {

namespace {

std::string shell_quote(const std::string& x) {
  std::string result = "'";
  for (auto c : x) {
    if (c == '\'')
      result += "'\\''";
    else
      result += c;
  }
  return result + "'";
}

struct command_result {
  int status = -1;
  std::string output;
};

/// Runs `args` through the shell with stderr joined to stdout; as root, as
/// user `postgres`.
command_result run(const std::vector<std::string>& args) {
  std::string cmd;
  if (::geteuid() == 0)
    cmd = "runuser -u postgres --";
  for (auto& x : args)
    cmd += (cmd.empty() ? "" : " ") + shell_quote(x);
  cmd += " 2>&1";
  command_result result;
  auto* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed: " + std::string{std::strerror(errno)};
    return result;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    result.output.append(buf, n);
  result.status = ::pclose(pipe);
  return result;
}

void run_or_throw(const std::vector<std::string>& args) {
  auto result = run(args);
  if (result.status != 0) {
    std::string cmd;
    for (auto& x : args)
      cmd += (cmd.empty() ? "" : " ") + x;
    throw std::runtime_error("postgres_server: `" + cmd + "` failed (status " +
                             std::to_string(result.status) +
                             "): " + result.output);
  }
}

std::string bin(const char* name) {
  return std::string{postgres_server::bin_dir} + "/" + name;
}

/// A port of 127.0.0.1 that nothing listens on right now.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket failed: " +
                             std::string{std::strerror(errno)});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    auto err = std::string{std::strerror(errno)};
    ::close(fd);
    throw std::runtime_error("cannot pick a free port: " + err);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_log(const std::string& dir) {
  std::string result;
  if (auto* f = std::fopen((dir + "/server.log").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
      result.append(buf, n);
    std::fclose(f);
  }
  return result;
}

} // namespace

postgres_server::postgres_server() {
  auto tmpl =
      (std::filesystem::temp_directory_path() / "cartd-pg-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: " +
                             std::string{std::strerror(errno)});
  dir_ = std::move(tmpl);
  try {
    if (::geteuid() == 0) {
      auto* pw = ::getpwnam("postgres");
      if (pw == nullptr)
        throw std::runtime_error("postgres_server: no user `postgres` to run "
                                 "the server as (running as root)");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::runtime_error("chown " + dir_ +
                                 " failed: " + std::strerror(errno));
    }
    start_watchdog();
    // No fsync during initdb: the directory is thrown away anyway. The
    // server itself keeps its default (fsync on, synchronous_commit on).
    run_or_throw({bin("initdb"), "-D", dir_ + "/data", "-A", "trust", "-U",
                  "postgres", "-E", "UTF8", "--no-locale", "--no-sync"});
    // A port picked free can be taken before the server binds it: try
    // another one then.
    for (int attempt = 1;; ++attempt) {
      try {
        start_on(free_port());
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 3)
          throw;
      }
    }
  } catch (...) {
    if (watchdog_ > 0) {
      ::kill(watchdog_, SIGKILL);
      ::waitpid(watchdog_, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

postgres_server::~postgres_server() {
  if (watchdog_ > 0) {
    ::kill(watchdog_, SIGKILL);
    ::waitpid(watchdog_, nullptr, 0);
  }
  if (running_)
    run({bin("pg_ctl"), "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"});
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void postgres_server::start_watchdog() {
  auto parent = std::to_string(::getpid());
  auto stop = (::geteuid() == 0 ? "runuser -u postgres -- " : "") +
              shell_quote(bin("pg_ctl")) + " -D " +
              shell_quote(dir_ + "/data") + " -m immediate -w stop";
  auto script = "while kill -0 " + parent + " 2>/dev/null; do sleep 1; done; " +
                stop + "; rm -rf " + shell_quote(dir_);
  auto pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("fork failed: " +
                             std::string{std::strerror(errno)});
  if (pid == 0) {
    // Holds none of the test's descriptors (CTest waits for its output pipe
    // to close).
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::closefrom(3);
    ::setsid();
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  watchdog_ = pid;
}

std::string postgres_server::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=postgres dbname=postgres connect_timeout=2";
}

void postgres_server::crash() {
  run_or_throw(
      {bin("pg_ctl"), "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"});
  running_ = false;
}

void postgres_server::start() {
  if (!running_)
    start_on(port_);
}

void postgres_server::start_on(uint16_t port) {
  // max_connections: a test binary's journals, readers and nodes together
  // stay well below 200.
  auto options = "-p " + std::to_string(port) + " -k " + dir_ +
                 " -c listen_addresses=127.0.0.1 -c max_connections=200";
  auto result =
      run({bin("pg_ctl"), "-D", dir_ + "/data", "-l", dir_ + "/server.log",
           "-w", "-t", "60", "-o", options, "start"});
  if (result.status != 0)
    throw std::runtime_error(
        "postgres_server: pg_ctl start on port " + std::to_string(port) +
        " failed: " + result.output + "\nserver.log:\n" + read_log(dir_));
  port_ = port;
  running_ = true;
}

std::string postgres_server::query(const std::string& sql) const {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn{
      PQconnectdb(conninfo().c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    throw std::runtime_error("postgres_server: cannot connect: " +
                             std::string{PQerrorMessage(conn.get())});
  std::unique_ptr<PGresult, void (*)(PGresult*)> res{
      PQexec(conn.get(), sql.c_str()), &PQclear};
  auto status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw std::runtime_error("postgres_server: `" + sql + "` failed: " +
                             std::string{PQerrorMessage(conn.get())});
  if (PQntuples(res.get()) == 0 || PQnfields(res.get()) == 0 ||
      PQgetisnull(res.get(), 0, 0))
    return {};
  return PQgetvalue(res.get(), 0, 0);
}

} // namespace cartd::test
