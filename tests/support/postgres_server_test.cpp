// The PostgreSQL fixture itself: a real server that takes SQL, survives a
// crash with its committed data, and comes back on the same port.
#define BOOST_TEST_MODULE support_postgres
#include "tests/support/postgres_server.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using cartd::test::postgres_server;

BOOST_AUTO_TEST_CASE(a_crashed_server_starts_again_with_its_committed_data) {
  postgres_server server;
  BOOST_TEST(server.port() != 0u);
  BOOST_TEST(server.running());
  BOOST_TEST(server.query("SELECT 40 + 2") == "42");
  server.query("CREATE TABLE t (x int)");
  server.query("INSERT INTO t VALUES (7)");
  auto port = server.port();
  server.crash();
  BOOST_TEST(!server.running());
  BOOST_CHECK_THROW(server.query("SELECT 1"), std::runtime_error);
  server.start();
  BOOST_TEST(server.port() == port);
  BOOST_TEST(server.query("SELECT x FROM t") == "7");
}

BOOST_AUTO_TEST_CASE(a_failing_statement_throws_with_the_servers_message) {
  postgres_server server;
  try {
    server.query("SELECT * FROM no_such_table");
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string{e.what()}.find("no_such_table") !=
               std::string::npos);
  }
  BOOST_TEST(server.query("SELECT NULL").empty());
}
