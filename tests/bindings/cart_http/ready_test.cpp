#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

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

namespace {

// A router that refuses everything: the readiness checks never ask it.
cart_router_actor::behavior_type refusing_router() {
  auto no = [] { return caf::make_error(caf::sec::invalid_argument); };
  return {
      [no](resolve_atom, const std::string&,
           const std::string&) -> caf::result<cart_actor> { return no(); },
      [no](resolve_atom, const std::string&) -> caf::result<cart_actor> {
        return no();
      },
      [no](route_atom, const std::string&,
           const std::string&) -> caf::result<cart_actor> { return no(); },
      [](subscribe_atom, const caf::actor&, const std::string&) {},
      [no](caf::get_atom, cluster_atom) -> caf::result<cluster_state> {
        return no();
      },
      [](leave_atom) { return true; },
  };
}

} // namespace

BOOST_AUTO_TEST_CASE(a_stopping_node_is_not_ready_and_says_draining_first) {
  auto available = std::make_shared<std::atomic<bool>>(false);
  auto stopping = std::make_shared<std::atomic<bool>>(false);
  cart_routes_settings settings;
  settings.journal_available = available;
  settings.stopping = stopping;
  BOOST_TEST(failing_check_of(settings) == "journal");
  stopping->store(true);
  // Draining names what will not go away: it wins over the journal.
  BOOST_TEST(failing_check_of(settings) == "draining");
  available->store(true);
  cart_routes routes{cart_directory_actor{}, settings};
  BOOST_CHECK(!routes.ready());
  BOOST_TEST(routes.failing_check() == "draining");
}

BOOST_AUTO_TEST_CASE(ready_names_the_journal_check_when_it_fails) {
  auto available = std::make_shared<std::atomic<bool>>(false);
  cart_routes_settings settings;
  settings.journal_available = available;
  cart_routes routes{cart_directory_actor{}, settings};
  BOOST_TEST(routes.failing_check() == "journal");
  available->store(true);
  BOOST_TEST(routes.failing_check() == "");
}

BOOST_AUTO_TEST_CASE(a_cluster_node_is_ready_exactly_while_its_lease_is) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto router = sys.spawn(refusing_router);
  auto lease = std::make_shared<cluster_lease>();
  auto available = std::make_shared<std::atomic<bool>>(true);
  cart_routes_settings settings;
  settings.journal_available = available;
  settings.lease = lease;
  settings.node_name = "a";
  cart_routes routes{router, settings};
  // Never granted yet.
  BOOST_TEST(routes.failing_check() == "cluster lease");
  BOOST_CHECK(!routes.ready());
  lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
  BOOST_TEST(routes.failing_check() == "");
  BOOST_CHECK(routes.ready());
  // The journal is named first: it is what an operator must fix.
  available->store(false);
  BOOST_TEST(routes.failing_check() == "journal");
  available->store(true);
  lease->revoke();
  BOOST_TEST(routes.failing_check() == "cluster lease");
  // A lease that ran out by the clock counts as lost.
  lease->extend_to(cluster_lease::clock_type::now() - std::chrono::seconds{1});
  BOOST_TEST(routes.failing_check() == "cluster lease");
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
}
