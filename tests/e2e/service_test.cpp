// The node as a service manager and logrotate see it. Under systemd's
// Type=notify (a datagram socket of the test's in $NOTIFY_SOCKET) it says
// READY=1 once it serves, naming its bound address, in a cluster only once
// it joined, and STOPPING=1 when SIGTERM arrives. SIGHUP reopens the access
// log's file (a renamed file stops getting lines, a new one under the name
// gets them) and never stops the node.

#define BOOST_TEST_MODULE e2e_service
#include "tests/e2e/cluster.hpp"
#include "tests/support/notify_socket.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

using namespace cartd::test;

namespace fs = std::filesystem;

namespace {

std::string contents(const std::string& path) {
  std::ifstream in{path};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Polls `pred` every 20 ms until it holds or 10 s pass.
bool eventually(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

/// Stops `proc` with SIGTERM and checks it exits 0.
void check_clean_stop(cartd_process& proc) {
  proc.kill(SIGTERM);
  auto status = proc.wait_exit(10s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(status->exited_normally());
  BOOST_TEST(status->code == 0);
}

} // namespace

BOOST_AUTO_TEST_CASE(ready_once_it_serves_and_stopping_at_sigterm) {
  notify_socket manager;
  test_node node;
  auto& proc = node.proc();
  auto ready = manager.wait(10s);
  BOOST_REQUIRE_MESSAGE(ready.has_value(), "no READY=1");
  // The bound port is in it: sent after the listener was bound.
  BOOST_TEST(*ready == "READY=1\nSTATUS=serving HTTP on 127.0.0.1:" +
                           std::to_string(node.port()));
  BOOST_TEST(call(node.port(), "GET", "/health").result_int() == 200u);
  BOOST_TEST(!manager.wait(0ms).has_value());
  proc.kill(SIGTERM);
  auto stopping = manager.wait(10s);
  BOOST_REQUIRE_MESSAGE(stopping.has_value(), "no STOPPING=1");
  BOOST_TEST(*stopping == "STOPPING=1\nSTATUS=draining");
  check_clean_stop(proc);
}

BOOST_AUTO_TEST_CASE(without_a_service_manager_the_node_runs_as_before) {
  ::unsetenv("NOTIFY_SOCKET");
  test_node node;
  BOOST_TEST(call(node.port(), "GET", "/health").result_int() == 200u);
  check_clean_stop(node.proc());
}

BOOST_AUTO_TEST_CASE(a_cluster_node_is_ready_only_once_it_joined) {
  test_cluster c{"svc_ready", 1};
  // A second node under n0's name: it listens and opens the journal, but
  // cannot join while n0 holds the name.
  notify_socket manager;
  test_node twin{c.args(c.name(0))};
  auto& proc = twin.proc();
  BOOST_REQUIRE_MESSAGE(eventually([&] {
                          return contains(proc.stderr_text(),
                                          "cannot join yet");
                        }),
                        "the twin did not try to join");
  BOOST_TEST(call(twin.port(), "GET", "/ready").result_int() == 503u);
  auto early = manager.wait(0ms);
  BOOST_TEST(!early.has_value(), "notified before joining: " << *early);
  // n0 leaves (SIGTERM deletes its row): the twin joins and is ready.
  c.node(0).proc().kill(SIGTERM);
  BOOST_REQUIRE(c.node(0).proc().wait_exit(20s).has_value());
  auto ready = manager.wait(20s);
  BOOST_REQUIRE_MESSAGE(ready.has_value(), "no READY=1 after joining");
  BOOST_TEST(*ready == "READY=1\nSTATUS=serving HTTP on 127.0.0.1:" +
                           std::to_string(twin.port()));
  BOOST_TEST(call(twin.port(), "GET", "/ready").result_int() == 200u);
  proc.kill(SIGTERM);
  auto stopping = manager.wait(10s);
  BOOST_REQUIRE(stopping.has_value());
  BOOST_TEST(*stopping ==
             "STOPPING=1\nSTATUS=leaving the cluster, then draining");
  check_clean_stop(proc);
}

BOOST_AUTO_TEST_CASE(
    sighup_reopens_the_access_log_file_and_the_node_serves_on) {
  temp_dir dir;
  auto file = dir.path() + "/access.log";
  auto rotated = file + ".1";
  test_node node{{"--log.access=true", "--log.access-file=" + file}};
  auto& proc = node.proc();
  BOOST_TEST(call(node.port(), "GET", cart_path("before-hup")).result_int() ==
             200u);
  BOOST_REQUIRE(eventually(
      [&] { return contains(contents(file), "GET /carts/before-hup 200"); }));
  // What logrotate does: rename, then tell the daemon.
  fs::rename(file, rotated);
  auto offset = proc.stderr_size();
  proc.kill(SIGHUP);
  BOOST_REQUIRE_MESSAGE(eventually([&] {
                          return contains(proc.stderr_text(offset),
                                          "received SIGHUP: reopened the "
                                          "access log " +
                                              file);
                        }),
                        "no reopen line; stderr: " << proc.stderr_text(offset));
  BOOST_TEST(proc.running());
  BOOST_TEST(call(node.port(), "GET", cart_path("after-hup")).result_int() ==
             200u);
  BOOST_REQUIRE(eventually(
      [&] { return contains(contents(file), "GET /carts/after-hup 200"); }));
  BOOST_TEST(!contains(contents(file), "before-hup"));
  BOOST_TEST(contains(contents(rotated), "GET /carts/before-hup 200"));
  BOOST_TEST(!contains(contents(rotated), "after-hup"));
  check_clean_stop(proc);
}

BOOST_AUTO_TEST_CASE(sighup_without_an_access_log_file_is_logged_and_harmless) {
  test_node node;
  auto& proc = node.proc();
  auto offset = proc.stderr_size();
  proc.kill(SIGHUP);
  BOOST_REQUIRE_MESSAGE(eventually([&] {
                          return contains(proc.stderr_text(offset),
                                          "received SIGHUP: nothing to "
                                          "reopen");
                        }),
                        "no SIGHUP line; stderr: " << proc.stderr_text(offset));
  BOOST_TEST(proc.running());
  BOOST_TEST(call(node.port(), "GET", cart_path("hup-idle")).result_int() ==
             200u);
  check_clean_stop(proc);
}
