// End-to-end tests of the configuration through the real binary (issue 15):
// CARTD_* variables and their order against the config file and the command
// line, --version, --help's defaults, --dump-config, and the messages of
// mistakes (exit 2, naming the variable, file and line, option and value);
// at start, a second node on one storage.path and a taken HTTP port.
// Variables reach the child through this process's environment
// (scoped_env), set only around one start.

#define BOOST_TEST_MODULE e2e_config
#include "tests/e2e/e2e.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#ifndef CARTD_PROJECT_VERSION
#error "CARTD_PROJECT_VERSION must be the CMake project's version"
#endif

using namespace cartd::test;

namespace {

/// Sets environment variables for its lifetime (children inherit them).
class scoped_env {
public:
  explicit scoped_env(std::vector<std::pair<std::string, std::string>> xs)
      : xs_(std::move(xs)) {
    for (auto& [name, value] : xs_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }

  ~scoped_env() {
    for (auto& [name, value] : xs_)
      ::unsetenv(name.c_str());
  }

private:
  std::vector<std::pair<std::string, std::string>> xs_;
};

/// Writes `text` to `name` in `dir` and returns its path.
std::string write_file(const temp_dir& dir, const std::string& name,
                       const std::string& text) {
  auto path = dir.path() + "/" + name;
  std::ofstream{path} << text;
  return path;
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

run_result run(std::vector<std::string> args) {
  auto res = cartd_process::run(cartd_binary(), std::move(args), 10s);
  BOOST_REQUIRE_MESSAGE(res.status, "cartd still ran after 10 s");
  return res;
}

/// Runs cartd with `args`; it must refuse to start (exit 2) with `message`
/// on stderr.
void expect_refusal(std::vector<std::string> args, const std::string& message) {
  auto res = run(std::move(args));
  BOOST_TEST(res.status->code == 2);
  BOOST_TEST(contains(res.err, "cartd: " + message), res.err);
}

} // namespace

BOOST_AUTO_TEST_CASE(version_names_the_project_version) {
  auto res = run({"--version"});
  BOOST_TEST(res.status->code == 0);
  BOOST_TEST(res.out.rfind(std::string{"cartd "} + CARTD_PROJECT_VERSION, 0) ==
                 0u,
             res.out);
}

BOOST_AUTO_TEST_CASE(a_variable_configures_a_running_node) {
  // Fault injection off by default: the crash route is not served.
  {
    test_node node;
    BOOST_TEST(call(node.port(), "POST", "/debug/carts/v/crash").result_int() ==
               404u);
  }
  scoped_env env{{{"CARTD_DEBUG_FAULT_INJECTION", "true"}}};
  test_node node;
  check_error(call(node.port(), "POST", "/debug/carts/v/crash"), 500,
              "crashed");
}

BOOST_AUTO_TEST_CASE(command_line_beats_environment_beats_config_file) {
  temp_dir dir;
  auto file = write_file(dir, "cartd.ini",
                         "[carts]\nmax-lines=5\nshards=6\nmax-pending=7\n"
                         "[storage]\npath=\"/from/file\"\n");
  scoped_env env{{{"CARTD_CONFIG_FILE", file},
                  {"CARTD_CARTS_MAX_LINES", "8"},
                  {"CARTD_CARTS_SHARDS", "9"},
                  {"CARTD_STORAGE_PATH", "/from/env"}}};
  auto res = run({"--carts.shards=10", "--dump-config"});
  BOOST_TEST(res.status->code == 0, res.err);
  BOOST_TEST(contains(res.out, "\nmax-pending=7\n"), res.out); // file
  BOOST_TEST(contains(res.out, "\nmax-lines=8\n"), res.out);   // environment
  BOOST_TEST(contains(res.out, "\nshards=10\n"), res.out);     // command line
  BOOST_TEST(contains(res.out, "\npath=\"/from/env\"\n"), res.out);
}

BOOST_AUTO_TEST_CASE(dump_config_prints_every_option_and_reads_back) {
  temp_dir dir;
  auto res = run({"--carts.idle-timeout=90s", "--dump-config"});
  BOOST_TEST(res.status->code == 0);
  // cartd's own groups without any of them set, and CAF's.
  for (auto line :
       {"[http]\n", "\nport=", "[carts]\n", "\nidle-timeout=90s\n",
        "[storage]\n", "[cluster]\n", "[cluster.tls]\n", "[log]\n",
        "[metrics]\n", "[admin]\n", "[scheduler]\n", "[middleman]\n"})
    BOOST_TEST(contains(res.out, line), line);
  for (auto group : {"[logger]", "[openssl]", "[stream]"})
    BOOST_TEST(!contains(res.out, group), group);
  auto file = write_file(dir, "dump.ini", res.out);
  auto again = run({"--config-file=" + file, "--dump-config"});
  BOOST_TEST(again.status->code == 0, again.err);
  // The same but for http.port-file: each run gets a directory of its own.
  auto without_port_file = [](const std::string& x) {
    std::istringstream in{x};
    std::string result;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("port-file=\"/", 0) != 0)
        result += line + "\n";
    return result;
  };
  BOOST_TEST(contains(res.out, "\nport-file=\"/"));
  BOOST_TEST(without_port_file(again.out) == without_port_file(res.out));
}

BOOST_AUTO_TEST_CASE(help_shows_each_default_and_variable) {
  auto res = run({"--help"});
  BOOST_TEST(res.status->code == 0);
  BOOST_TEST(contains(res.out, "--http.port=<number>\n      CARTD_HTTP_PORT, "
                               "default 8080\n"),
             res.out);
  BOOST_TEST(contains(res.out, "--carts.idle-timeout=<duration>\n      "
                               "CARTD_CARTS_IDLE_TIMEOUT, default 2min\n"));
  BOOST_TEST(!contains(res.out, "--openssl."));
  BOOST_TEST(!contains(res.out, "--logger."));
}

BOOST_AUTO_TEST_CASE(mistakes_name_what_to_fix) {
  temp_dir dir;
  auto unquoted =
      write_file(dir, "a.ini", "[http]\nport=8080\nhost=localhost\n");
  expect_refusal({"--config-file=" + unquoted},
                 unquoted + ":3: cannot read host=localhost in [http] "
                            "(unexpected character): strings are written in "
                            "double quotes: host=\"localhost\"");
  expect_refusal({"--carts.idle-timeout=5"},
                 "--carts.idle-timeout=5: carts.idle-timeout takes a duration "
                 "with a unit: ns, us, ms, s, min or h");
  {
    scoped_env env{{{"CARTD_HTTP_PROT", "9000"}}};
    expect_refusal({}, "environment variable CARTD_HTTP_PROT names no cartd "
                       "option (did you mean CARTD_HTTP_PORT?)");
  }
  {
    scoped_env env{{{"CARTD_HTTP_IDLE_TIMEOUT", "soon"}}};
    expect_refusal({}, "environment variable CARTD_HTTP_IDLE_TIMEOUT=soon: "
                       "http.idle-timeout takes a duration with a unit");
  }
  expect_refusal({"--openssl.certificate=/etc/x.pem"},
                 "--openssl.certificate=/etc/x.pem: openssl.certificate is "
                 "not a cartd option: TLS between the nodes is "
                 "--cluster.tls.certificate");
  expect_refusal({"--scheduler.policy=foo"},
                 "scheduler.policy must be stealing or sharing, not foo");
  expect_refusal({"--logger.verbosity=debug"},
                 "--logger.verbosity=debug: logger.verbosity is not a cartd "
                 "option: cartd logs through --log.level");
}

// -- storage.path and http.port at start --------------------------------------

namespace {

/// A socket listening on 127.0.0.1 on a free port, like another server's.
class occupied_port {
public:
  occupied_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0);
    BOOST_REQUIRE(::listen(fd_, 4) == 0);
    BOOST_REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) ==
                  0);
    port_ = ntohs(sa.sin_port);
  }

  ~occupied_port() { ::close(fd_); }

  uint16_t port() const { return port_; }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

std::vector<std::string> sqlite_at(const std::string& path) {
  return {"--storage.backend=sqlite", "--storage.path=" + path,
          "--storage.sync=normal"};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_second_node_on_one_storage_path_fails_at_start) {
  temp_dir data;
  test_node first{sqlite_at(data.path())};
  BOOST_TEST(call(first.port(), "POST", items_path("lock"),
                  R"({"item":"a","quantity":1})")
                 .result_int() == 200u);
  auto second = run(sqlite_at(data.path()));
  BOOST_TEST(second.status->code == 1);
  BOOST_TEST(contains(second.err, "journal directory " + data.path() +
                                      " is in use by process " +
                                      std::to_string(first.proc().pid())),
             second.err);
  // The first one is unaffected.
  BOOST_TEST(call(first.port(), "GET", cart_path("lock")).result_int() == 200u);
  // Killed with -9, its lock goes with it: the next start serves its carts.
  first.proc().kill(SIGKILL);
  BOOST_REQUIRE(first.proc().wait_exit(10s));
  test_node next{sqlite_at(data.path())};
  auto res = call(next.port(), "GET", cart_path("lock"));
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(contains(res.body(), "\"quantity\":1"), res.body());
}

BOOST_AUTO_TEST_CASE(
    a_taken_port_is_reported_before_the_data_directory_is_made) {
  occupied_port taken;
  temp_dir parent;
  auto data = parent.path() + "/data";
  auto args = sqlite_at(data);
  args.push_back("--http.port=" + std::to_string(taken.port()));
  auto res = run(args);
  BOOST_TEST(res.status->code == 1);
  BOOST_TEST(contains(res.err, "cannot listen on 127.0.0.1:" +
                                   std::to_string(taken.port()) +
                                   ": address already in use"),
             res.err);
  BOOST_TEST(!std::filesystem::exists(data), data << " was created");
}
