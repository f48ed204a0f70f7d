#define BOOST_TEST_MODULE actors_cart_directory_release
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include <caf/system_messages.hpp>

#include "actors/cart/directory/cart_directory.hpp"
#include "runtime/cluster/placement.hpp"
#include "tests/actors/cart/cart_system_fixture.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

struct fixture : test::cart_system_fixture {
  /// Monitors carts (apart from `self`, whose mailbox holds the replies).
  caf::scoped_actor watcher{sys, true};

  cart_directory_control_actor control() {
    return caf::actor_cast<cart_directory_control_actor>(directory);
  }

  caf::expected<size_t> release(std::vector<std::string> owners,
                                std::string me) {
    return call<size_t>(control(), release_atom::value, std::move(owners),
                        std::move(me));
  }

  /// The carts whose down message is waiting, by address.
  std::vector<caf::actor_addr> downs() {
    std::vector<caf::actor_addr> result;
    for (bool more = true; more;)
      watcher->receive(
          [&](caf::down_msg& dm) {
            BOOST_CHECK(!dm.reason); // passivated, never killed
            result.push_back(dm.source);
          },
          caf::after(std::chrono::seconds{0}) >> [&] { more = false; });
    return result;
  }
};

const std::vector<std::string> two_nodes{"node-a", "node-b"};

bool owned_by(const std::string& id, const std::string& node) {
  return two_nodes[owner_index(two_nodes, id)] == node;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(release, fixture)

BOOST_AUTO_TEST_CASE(release_passivates_the_carts_owned_elsewhere_only) {
  start();
  std::map<std::string, cart_actor> carts;
  size_t elsewhere = 0;
  for (int i = 0; i < 20; ++i) {
    auto id = "c" + std::to_string(i);
    carts[id] = resolve(id);
    watcher->monitor(carts[id]);
    if (owned_by(id, "node-b"))
      ++elsewhere;
  }
  BOOST_REQUIRE_GT(elsewhere, 0u);
  BOOST_REQUIRE_LT(elsewhere, 20u);
  auto released = release(two_nodes, "node-a");
  BOOST_REQUIRE(released);
  BOOST_CHECK_EQUAL(*released, elsewhere);
  auto stopped = downs();
  BOOST_CHECK_EQUAL(stopped.size(), elsewhere);
  for (auto& [id, cart] : carts) {
    bool gone = std::find(stopped.begin(), stopped.end(), cart.address()) !=
                stopped.end();
    BOOST_TEST_CONTEXT(id) {
      BOOST_CHECK_EQUAL(gone, owned_by(id, "node-b"));
      // Lookup never activates: a released cart is not resident any more.
      auto found = call<cart_actor>(control(), lookup_atom::value, id);
      if (gone) {
        BOOST_REQUIRE(!found);
        BOOST_CHECK(to_cart_errc(found.error()) == cart_errc::unavailable);
      } else {
        BOOST_REQUIRE(found);
        BOOST_CHECK(*found == cart);
      }
    }
  }
  // Nothing left to release for this view.
  auto again = release(two_nodes, "node-a");
  BOOST_REQUIRE(again);
  BOOST_CHECK_EQUAL(*again, 0u);
}

BOOST_AUTO_TEST_CASE(release_without_owners_passivates_every_cart) {
  start();
  for (int i = 0; i < 5; ++i)
    watcher->monitor(resolve("c" + std::to_string(i)));
  auto released = release({}, "node-a");
  BOOST_REQUIRE(released);
  BOOST_CHECK_EQUAL(*released, 5u);
  BOOST_CHECK_EQUAL(downs().size(), 5u);
}

BOOST_AUTO_TEST_CASE(a_recently_used_cart_is_released_all_the_same) {
  // The resident cap's passivation refuses a cart used within
  // min_residency; a release must not.
  cart_settings carts;
  carts.min_residency = caf::timespan{std::chrono::hours{1}};
  start(carts);
  auto cart = resolve("c1");
  BOOST_REQUIRE(call<cart_view>(cart, test::add_mutation("apple", 1)));
  watcher->monitor(cart);
  auto released = release({}, "node-a");
  BOOST_REQUIRE(released);
  BOOST_CHECK_EQUAL(*released, 1u);
  BOOST_CHECK_EQUAL(downs().size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_released_cart_finishes_its_write_in_flight_first) {
  start();
  auto cart = resolve("c1");
  watcher->monitor(cart);
  journal_held = true;
  auto write =
      self->request(cart, caf::infinite, test::add_mutation("pear", 2));
  run(); // the append waits in the journal's mailbox
  auto rel = self->request(control(), caf::infinite, release_atom::value,
                           std::vector<std::string>{}, std::string{"node-a"});
  run();
  // Still writing: no answer to the release, the cart runs.
  BOOST_CHECK(self->mailbox().empty());
  BOOST_CHECK(downs().empty());
  // A resolve meanwhile waits for the cart to stop.
  auto again = self->request(directory, caf::infinite, resolve_atom::value,
                             std::string{"c1"});
  run();
  BOOST_CHECK(self->mailbox().empty());
  journal_held = false;
  run();
  bool stored = false;
  receive_reply(
      write, [&](cart_view& v) { stored = v.version == 1; },
      [&](caf::error& err) {
        BOOST_ERROR("the write failed: " << sys.render(err));
      });
  BOOST_CHECK(stored);
  size_t released = 0;
  receive_reply(
      rel, [&](size_t n) { released = n; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK_EQUAL(released, 1u);
  BOOST_CHECK_EQUAL(downs().size(), 1u);
  // The waiting resolve got a new incarnation, which recovered the write.
  cart_actor next;
  receive_reply(
      again, [&](cart_actor& x) { next = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_REQUIRE(next);
  BOOST_CHECK(next != cart);
  auto view = call<cart_view>(next, caf::get_atom::value, std::string{});
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->version, 1u);
}

BOOST_AUTO_TEST_SUITE_END()
