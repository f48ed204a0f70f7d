// notify_ready / notify_stopping / notify_status: what a service manager
// listening on $NOTIFY_SOCKET (a datagram socket this test owns, as systemd
// has for Type=notify) receives, and that nothing breaks without one.

#include "bindings/cartd/service_manager.hpp"

#include <cstdlib>
#include <string>

#include <boost/test/unit_test.hpp>

#include "tests/support/notify_socket.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

std::string next(test::notify_socket& manager) {
  return manager.wait(0ms).value_or("(nothing)");
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_manager_tests)

BOOST_AUTO_TEST_CASE(a_service_manager_gets_ready_stopping_and_status) {
  test::notify_socket manager;
  BOOST_TEST(notify_ready("serving HTTP on 127.0.0.1:8080"));
  BOOST_TEST(next(manager) == "READY=1\nSTATUS=serving HTTP on 127.0.0.1:8080");
  BOOST_TEST(notify_status("draining"));
  BOOST_TEST(next(manager) == "STATUS=draining");
  BOOST_TEST(notify_stopping(""));
  BOOST_TEST(next(manager) == "STOPPING=1");
  BOOST_TEST(next(manager) == "(nothing)");
}

BOOST_AUTO_TEST_CASE(a_newline_in_the_status_cannot_add_a_variable) {
  test::notify_socket manager;
  BOOST_TEST(notify_status("stopping\nREADY=1"));
  BOOST_TEST(next(manager) == "STATUS=stopping READY=1");
}

BOOST_AUTO_TEST_CASE(without_a_service_manager_nothing_is_sent_or_broken) {
  ::unsetenv("NOTIFY_SOCKET");
  BOOST_TEST(!notify_ready("serving"));
  BOOST_TEST(!notify_stopping("stopping"));
  BOOST_TEST(!notify_status("x"));
}

BOOST_AUTO_TEST_SUITE_END()
