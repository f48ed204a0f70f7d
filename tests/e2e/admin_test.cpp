// The management endpoints (bindings/admin) on the public port and on a
// listener of their own (--admin.host/--admin.port), through the real
// binary:
//
//   without --admin.*:  test ──► http.port ──► management + cart routes
//   with --admin.port:  test ──► http.port ──► cart routes (404 for the rest)
//                       test ──► admin.port ──► management routes, /health,
//                                               /ready (404 for the rest)
//
// The management listener stops after the public one drained: its /ready
// says "draining" meanwhile. A cluster of two on PostgreSQL with
// --admin.port keeps /cluster and the rest off the public ports.

#define BOOST_TEST_MODULE e2e_admin
#include "tests/e2e/cluster.hpp"

#include <csignal>
#include <optional>
#include <thread>

#include "tests/support/sqlite_file.hpp"

using namespace cartd::test;

namespace {

/// Every management path (GET unless said otherwise).
struct management_path {
  const char* method;
  const char* target;
};

constexpr management_path management_paths[] = {
    {"GET", "/metrics"},
    {"GET", "/cluster"},
    {"GET", "/dashboard"},
    {"GET", "/openapi.json"},
    {"POST", "/debug/carts/adm-x/crash"},
};

/// A node with its management endpoints on a listener of their own.
struct admin_node {
  test_node node{{"--debug.fault-injection", "--admin.host=127.0.0.1",
                  "--admin.port=0", "--admin.port-file=admin-port"}};
  uint16_t admin_port = node.proc().wait_port_file("admin-port");
};

} // namespace

BOOST_AUTO_TEST_CASE(without_admin_options_management_shares_the_public_port) {
  test_node node{{"--debug.fault-injection"}};
  auto port = node.port();
  check_error(call(port, "POST", "/debug/carts/adm-shared/crash"), 500,
              "crashed");
  BOOST_TEST(call(port, "GET", cart_path("adm-shared")).result_int() == 200u);
  BOOST_TEST(call(port, "GET", "/ready").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(with_admin_port_the_public_port_answers_404_for_them) {
  admin_node admin;
  auto port = admin.node.port();
  BOOST_TEST(admin.admin_port != port);
  for (auto& x : management_paths) {
    BOOST_TEST_CONTEXT(x.method << " " << x.target) {
      check_error(call(port, x.method, x.target), 404, "not_found");
    }
  }
  // The cart API, /health and /ready stay.
  BOOST_TEST(call(port, "GET", cart_path("adm-a")).result_int() == 200u);
  BOOST_TEST(call(port, "GET", "/health").result_int() == 200u);
  BOOST_TEST(call(port, "GET", "/ready").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(with_admin_port_it_serves_them_and_404s_the_cart_api) {
  admin_node admin;
  auto port = admin.admin_port;
  // What a node without the option serves on its public port, the admin
  // port serves (whichever management endpoints exist in this build).
  test_node shared{{"--debug.fault-injection"}};
  for (auto& x : management_paths) {
    BOOST_TEST_CONTEXT(x.method << " " << x.target) {
      auto expected = http_call(shared.port(), x.method, x.target);
      auto got = http_call(port, x.method, x.target);
      BOOST_TEST(got.result_int() == expected.result_int());
    }
  }
  // The fault injection reaches the node's carts from there.
  auto crash = call(port, "POST", "/debug/carts/adm-b/crash");
  check_error(crash, 500, "crashed");
  BOOST_TEST(call(admin.node.port(), "GET", cart_path("adm-b")).result_int() ==
             200u);
  for (auto* target : {"/carts/adm-b", "/cart", "/carts/adm-b/items"})
    BOOST_TEST_CONTEXT(target) {
      check_error(call(port, "GET", target), 404, "not_found");
    }
  BOOST_TEST(call(port, "GET", "/health").result_int() == 200u);
  auto ready = call(port, "GET", "/ready");
  BOOST_TEST(ready.result_int() == 200u);
  BOOST_TEST(ready.body() == R"({"status":"ready"})");
}

BOOST_AUTO_TEST_CASE(admin_options_are_listed_and_checked) {
  auto help = cartd_process::run(cartd_binary(), {"--help"}, 10s);
  BOOST_REQUIRE(help.status);
  for (auto* option : {"admin.host", "admin.port", "admin.port-file"})
    BOOST_TEST(help.out.find(option) != std::string::npos, option);
  auto bad = cartd_process::run(
      cartd_binary(), {"--http.port=18080", "--admin.port=18080"}, 10s);
  BOOST_REQUIRE(bad.status);
  BOOST_TEST(bad.status->code == 2);
  BOOST_TEST(bad.err.find("admin.port must differ from http.port") !=
                 std::string::npos,
             bad.err);
}

BOOST_AUTO_TEST_CASE(the_admin_port_says_draining_while_the_public_one_drains) {
  temp_dir data;
  test_node node{sqlite_node_args(
      data,
      {"--admin.host=127.0.0.1", "--admin.port=0",
       "--admin.port-file=admin-port", "--log.level=debug",
       "--http.request-timeout=30s", "--http.drain-timeout=30s",
       // The change keeps waiting while the journal is locked.
       "--storage.retry-for=20s"},
      "normal")};
  auto& proc = node.proc();
  auto admin_port = proc.wait_port_file("admin-port");
  auto port = node.port();
  BOOST_REQUIRE_EQUAL(
      call(port, "POST", items_path("adm-drain"), R"({"item":"tea"})")
          .result_int(),
      200u);
  BOOST_TEST(call(admin_port, "GET", "/ready").result_int() == 200u);
  journal_write_lock lock{data.path() + "/cartd.db"};
  BOOST_REQUIRE_MESSAGE(lock.error().empty(), lock.error());
  // A change that waits for the journal: in flight when SIGTERM comes, so
  // the public listener drains until it is answered.
  std::optional<http_response> change;
  std::string change_error;
  std::thread t{[&] {
    try {
      change = http_call(port, "POST", items_path("adm-drain"),
                         R"({"item":"fig"})", {{"X-Request-Id", "in-drain"}});
    } catch (const std::exception& e) {
      change_error = e.what();
    }
  }};
  // The cart's (debug) line about it: the change reached the cart.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (proc.stderr_text().find("request_id=in-drain") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  BOOST_CHECK(proc.stderr_text().find("request_id=in-drain") !=
              std::string::npos);
  proc.kill(SIGTERM);
  std::optional<http_response> ready;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    try {
      auto res = http_call(admin_port, "GET", "/ready");
      if (res.result_int() == 503u)
        ready = std::move(res);
    } catch (const std::exception&) {
      break; // the management listener is gone: never saw "draining"
    }
    if (!ready)
      std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(lock.release() == "");
  t.join();
  BOOST_REQUIRE_MESSAGE(ready, "the admin port never answered 503 to /ready");
  check_framing(*ready);
  auto body = json::parse(ready->body());
  BOOST_TEST(body["error"] == "not_ready");
  BOOST_TEST(body["check"] == "draining");
  // The drain waited for the change.
  BOOST_REQUIRE_MESSAGE(change, change_error);
  BOOST_TEST((change->result_int() == 200u || change->result_int() == 503u),
             change->result_int());
  auto status = proc.wait_exit(30s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(status->code == 0);
}

BOOST_AUTO_TEST_CASE(a_cluster_with_admin_ports_keeps_management_off_public) {
  test_cluster c{
      "admin_ports",
      2,
      {"--debug.fault-injection", "--admin.host=127.0.0.1", "--admin.port=0",
       std::string{"--admin.port-file="} + test_cluster::admin_port_file}};
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST_CONTEXT("node " << c.name(i)) {
      auto pub = c.port(i);
      auto adm = c.management_port(i);
      BOOST_TEST(adm != pub);
      for (auto& x : management_paths) {
        BOOST_TEST_CONTEXT(x.method << " " << x.target) {
          check_error(call(pub, x.method, x.target), 404, "not_found");
          // Not all JSON (/metrics, /dashboard): no framing check.
          BOOST_TEST(http_call(adm, x.method, x.target).result_int() != 404u);
        }
      }
      // /cluster on the management port lists both members.
      auto cluster = call(adm, "GET", "/cluster");
      BOOST_REQUIRE_EQUAL(cluster.result_int(), 200u);
      auto body = json::parse(cluster.body());
      BOOST_TEST(body["self"] == c.name(i));
      std::set<std::string> names;
      for (auto& m : body["members"])
        names.insert(m["name"].get<std::string>());
      BOOST_TEST((names == std::set<std::string>{"n0", "n1"}));
      // The cart API stays on the public port (and is 404 on the other).
      auto cart = "adm-cl-" + std::to_string(i);
      auto added = call(pub, "POST", items_path(cart), R"({"item":"tea"})");
      BOOST_TEST(added.result_int() == 200u);
      BOOST_TEST(!answered_by(added).empty());
      check_error(call(adm, "GET", cart_path(cart)), 404, "not_found");
      BOOST_TEST(call(pub, "GET", "/ready").result_int() == 200u);
      BOOST_TEST(call(adm, "GET", "/ready").result_int() == 200u);
    }
  }
}
