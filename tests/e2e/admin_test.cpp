// The management endpoints (bindings/admin) on the public port and on a
// listener of their own (--admin.host/--admin.port), through the real
// binary:
//
//   without --admin.*:  test ──► http.port ──► management + cart routes
//   with --admin.port:  test ──► http.port ──► cart routes (404 for the rest)
//                       test ──► admin.port ──► management routes, /health,
//                                               /ready (404 for the rest)

#define BOOST_TEST_MODULE e2e_admin
#include "tests/e2e/e2e.hpp"

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
  auto help = cartd_process::run(CARTD_BINARY, {"--help"}, 10s);
  BOOST_REQUIRE(help.status);
  for (auto* option : {"admin.host", "admin.port", "admin.port-file"})
    BOOST_TEST(help.out.find(option) != std::string::npos, option);
  auto bad = cartd_process::run(
      CARTD_BINARY, {"--http.port=18080", "--admin.port=18080"}, 10s);
  BOOST_REQUIRE(bad.status);
  BOOST_TEST(bad.status->code == 2);
  BOOST_TEST(bad.err.find("admin.port must differ from http.port") !=
                 std::string::npos,
             bad.err);
}
