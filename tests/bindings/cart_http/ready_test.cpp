#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>

#include "bindings/cart_http/cart_routes.hpp"

using namespace cartd;

BOOST_AUTO_TEST_CASE(routes_without_a_journal_flag_are_always_ready) {
  cart_routes routes{cart_directory_actor{}, cart_routes_settings{}};
  BOOST_CHECK(routes.ready());
}

BOOST_AUTO_TEST_CASE(routes_are_ready_exactly_while_the_journal_is_available) {
  auto available = std::make_shared<std::atomic<bool>>(true);
  cart_routes_settings settings;
  settings.journal_available = available;
  cart_routes routes{cart_directory_actor{}, settings};
  BOOST_CHECK(routes.ready());
  available->store(false);
  BOOST_CHECK(!routes.ready());
  available->store(true);
  BOOST_CHECK(routes.ready());
}
