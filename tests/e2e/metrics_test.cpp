// GET /metrics of the real cartd binary: promtool accepts it, its counters
// move by exactly the requests a test made, a real Prometheus server scrapes
// it, and --metrics.enabled=false turns it off.

#define BOOST_TEST_MODULE e2e_metrics
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/e2e/e2e.hpp"
#include "tests/e2e/metrics.hpp"

using namespace cartd::test;

namespace {

std::string add_body(const std::string& item) {
  return R"({"item":")" + item + R"(","quantity":1})";
}

/// Runs `command` with /bin/sh; returns its exit code and fills `output`
/// with what it wrote (stdout and stderr).
int run_shell(const std::string& command, std::string& output,
              const temp_dir& dir) {
  auto out_path = dir.path() + "/shell-output";
  auto rc = std::system((command + " >" + out_path + " 2>&1").c_str());
  std::ifstream in{out_path};
  output.assign(std::istreambuf_iterator<char>{in}, {});
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/// A TCP port nobody listens on right now (the kernel's pick).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
                0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// A Prometheus server (Debian's `prometheus`) scraping one target every
/// second, in a temporary directory of its own; SIGTERM at the end.
class prometheus_server {
public:
  prometheus_server(uint16_t target_port) : port_(free_port()) {
    auto config = dir_.path() + "/prometheus.yml";
    std::ofstream{config} << "global:\n"
                             "  scrape_interval: 1s\n"
                             "  evaluation_interval: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: cartd\n"
                             "    static_configs:\n"
                             "      - targets: ['127.0.0.1:"
                          << target_port << "']\n";
    std::vector<std::string> args{
        "/usr/bin/prometheus",
        "--config.file=" + config,
        "--storage.tsdb.path=" + dir_.path() + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
    };
    std::vector<char*> argv;
    for (auto& x : args)
      argv.push_back(x.data());
    argv.push_back(nullptr);
    int log_fd = ::open((dir_.path() + "/log").c_str(),
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    auto parent = ::getpid();
    pid_ = ::fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (::chdir(dir_.path().c_str()) != 0)
        ::_exit(127);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
  }

  ~prometheus_server() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }

  uint16_t port() const noexcept { return port_; }

  std::string log() const {
    std::ifstream in{dir_.path() + "/log"};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

private:
  temp_dir dir_{"cartd-e2e-prometheus-"};
  uint16_t port_;
  pid_t pid_ = -1;
};

} // namespace

BOOST_AUTO_TEST_CASE(promtool_accepts_the_exposition) {
  test_node node{{"--debug.fault-injection"}};
  // Something in every family: carts, the journal, a 404 and a 400.
  call(node.port(), "POST", items_path("m-lint"), add_body("apple"));
  call(node.port(), "GET", cart_path("m-lint"));
  http_call(node.port(), "GET", "/no/such/route");
  http_call(node.port(), "POST", items_path("m-lint"), "{not json");
  auto text = scrape(node.port());
  temp_dir dir{"cartd-e2e-promtool-"};
  std::ofstream{dir.path() + "/metrics.txt"} << text;
  std::string output;
  auto rc = run_shell("promtool check metrics <" + dir.path() + "/metrics.txt",
                      output, dir);
  BOOST_CHECK_MESSAGE(rc == 0, "promtool check metrics: exit " << rc << ":\n"
                                                               << output
                                                               << "\non:\n"
                                                               << text);
  // The families the issue names, the cluster ones aside.
  for (auto name :
       {"cartd_http_requests_total", "cartd_http_request_duration_seconds",
        "cartd_http_connections", "cartd_carts_resident",
        "cartd_cart_activations_total", "cartd_cart_passivations_total",
        "cartd_cart_restarts_total", "cartd_journal_appends_total",
        "cartd_journal_commit_duration_seconds", "cartd_journal_batch_size",
        "cartd_journal_errors_total", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_open_fds",
        "process_start_time_seconds"})
    BOOST_CHECK_MESSAGE(text.find(std::string{"# TYPE "} + name + " ") !=
                            std::string::npos,
                        name << " missing");
  BOOST_CHECK(text.find("cartd_cluster_") == std::string::npos);
  // The route template, never the raw path.
  BOOST_CHECK(text.find("m-lint") == std::string::npos);
  BOOST_CHECK(text.find("/no/such") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(counters_move_by_exactly_the_requests_made) {
  test_node node;
  auto port = node.port();
  const int adds = 7;
  const int gets = 4;
  auto before = scrape(port);
  for (int i = 0; i < adds; ++i) {
    auto res = call(port, "POST", items_path("m-count"),
                    add_body("item-" + std::to_string(i)));
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  }
  for (int i = 0; i < gets; ++i)
    BOOST_REQUIRE_EQUAL(call(port, "GET", cart_path("m-count")).result_int(),
                        200u);
  BOOST_REQUIRE_EQUAL(http_call(port, "GET", "/nowhere").result_int(), 404u);
  auto after = scrape(port);
  auto delta = [&](const std::string& series) {
    return sample(after, series) - sample(before, series);
  };
  BOOST_CHECK_EQUAL(delta(http_requests("POST", "/carts/{cart}/items", "200")),
                    adds);
  BOOST_CHECK_EQUAL(delta(http_requests("GET", "/carts/{cart}", "200")), gets);
  BOOST_CHECK_EQUAL(delta(http_requests("GET", "unmatched", "404")), 1);
  // The first scrape is counted once it was written, so the second sees it.
  BOOST_CHECK_EQUAL(delta(http_requests("GET", "/metrics", "200")), 1);
  BOOST_CHECK_EQUAL(
      delta("cartd_http_request_duration_seconds_count{route=\"/carts/{cart}/"
            "items\"}"),
      adds);
  BOOST_CHECK_EQUAL(delta("cartd_journal_appends_total"), adds);
  BOOST_CHECK_GE(delta("cartd_journal_batch_size_count"), 1);
  BOOST_CHECK_EQUAL(delta("cartd_journal_batch_size_sum"), adds);
  BOOST_CHECK_EQUAL(delta("cartd_cart_activations_total"), 1);
  BOOST_CHECK_EQUAL(delta("cartd_carts_resident"), 1);
  BOOST_CHECK_EQUAL(delta("cartd_journal_errors_total"), 0);
  // The scrape's own connection is open while it is answered (earlier
  // ones may not have been seen closing yet).
  BOOST_CHECK_GE(sample(after, "cartd_http_connections"), 1);
}

BOOST_AUTO_TEST_CASE(a_crash_moves_restarts_by_one) {
  test_node node{{"--debug.fault-injection"}};
  auto port = node.port();
  call(port, "POST", items_path("m-crash"), add_body("apple"));
  auto before = scrape(port);
  http_call(port, "POST", "/debug/carts/m-crash/crash");
  // The restart happens after the crash's answer: wait for it, boundedly.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  std::string after;
  do {
    after = scrape(port);
    if (sample(after, "cartd_cart_restarts_total") >
        sample(before, "cartd_cart_restarts_total"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  } while (std::chrono::steady_clock::now() < deadline);
  BOOST_CHECK_EQUAL(sample(after, "cartd_cart_restarts_total") -
                        sample(before, "cartd_cart_restarts_total"),
                    1);
  // A restart keeps the cart resident: not a passivation, not an activation.
  BOOST_CHECK_EQUAL(sample(after, "cartd_carts_resident"),
                    sample(before, "cartd_carts_resident"));
  BOOST_CHECK_EQUAL(sample(after, "cartd_cart_activations_total"),
                    sample(before, "cartd_cart_activations_total"));
}

BOOST_AUTO_TEST_CASE(idle_carts_passivate_and_leave_the_resident_gauge) {
  test_node node{{"--carts.idle-timeout=200ms"}};
  auto port = node.port();
  call(port, "POST", items_path("m-idle"), add_body("apple"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  std::string text;
  do {
    text = scrape(port);
    if (sample(text, "cartd_cart_passivations_total") >= 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  } while (std::chrono::steady_clock::now() < deadline);
  BOOST_CHECK_EQUAL(sample(text, "cartd_cart_passivations_total"), 1);
  BOOST_CHECK_EQUAL(sample(text, "cartd_carts_resident"), 0);
}

BOOST_AUTO_TEST_CASE(metrics_disabled_serve_no_route) {
  test_node node{{"--metrics.enabled=false"}};
  auto res = http_call(node.port(), "GET", "/metrics");
  BOOST_CHECK_EQUAL(res.result_int(), 404u);
  BOOST_CHECK_EQUAL(call(node.port(), "GET", "/health").result_int(), 200u);
}

BOOST_AUTO_TEST_CASE(a_prometheus_server_scrapes_the_node) {
  test_node node;
  call(node.port(), "POST", items_path("m-prom"), add_body("apple"));
  prometheus_server prom{node.port()};
  // Prometheus starts, scrapes every second and answers instant queries;
  // the first sample appears within seconds. Bounded: 60 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  json found;
  while (std::chrono::steady_clock::now() < deadline) {
    auto conn = http_connection::try_connect(prom.port(),
                                             std::chrono::milliseconds{500});
    if (conn) {
      auto res = conn->exchange(
          "GET", "/api/v1/query?query=cartd_http_requests_total%7Broute%3D%22"
                 "%2Fcarts%2F%7Bcart%7D%2Fitems%22%7D");
      if (res.result_int() == 200) {
        auto body = json::parse(res.body(), nullptr, false);
        if (!body.is_discarded() && body["status"] == "success" &&
            !body["data"]["result"].empty()) {
          found = body["data"]["result"][0];
          break;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{250});
  }
  BOOST_REQUIRE_MESSAGE(!found.is_null(), "no sample within 60 s; prometheus:\n"
                                              << prom.log());
  BOOST_CHECK_EQUAL(found["metric"]["method"], "POST");
  BOOST_CHECK_EQUAL(found["metric"]["status"], "200");
  BOOST_CHECK_EQUAL(found["metric"]["job"], "cartd");
  BOOST_CHECK_EQUAL(found["value"][1], "1");
}
