#define BOOST_TEST_MODULE actors_cart_subsystem
#include <boost/test/unit_test.hpp>

#include "actors/cart/subsystem.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/memory_journal.hpp"

// The cart subsystem as every user wires it (cart_subsystem_specs under a
// rest_for_one root) in a real actor system; requests with a deadline, no
// sleeps.

using namespace cartd;
using namespace std::chrono_literals;

namespace {

/// (saw_atom, journal, directory): what a later sibling found, typed.
using saw_atom = caf::atom_constant<caf::atom("saw")>;

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  std::shared_ptr<memory_journal> backend = std::make_shared<memory_journal>();
  caf::actor root;

  fixture() {
    cfg.set("scheduler.max-threads", 2);
    add_cartd_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~fixture() {
    if (root) {
      (*self)->monitor(root);
      caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
      (*self)->receive([](caf::down_msg&) {}, caf::after(10s) >> [] {});
    }
    self.reset();
    sys.reset();
  }

  /// Starts the subsystem plus a probe child that reports what it finds.
  void start() {
    auto children = cart_subsystem_specs(backend, {});
    supervision::child_spec probe;
    probe.id = "probe";
    probe.start = [obs = caf::actor_cast<caf::actor>(*self)](
                      caf::event_based_actor* sup,
                      const supervision::children_view& up) {
      auto journal = up.find<journal_actor>(journal_child_id);
      auto directory = up.find<cart_directory_actor>(directory_child_id);
      sup->send(obs, saw_atom::value, caf::actor_cast<caf::actor>(journal),
                caf::actor_cast<caf::actor>(directory));
      return sup->spawn([](caf::event_based_actor*) -> caf::behavior {
        return {[](int32_t) {}};
      });
    };
    children.push_back(std::move(probe));
    supervision::supervisor_flags flags;
    flags.how = supervision::strategy::rest_for_one;
    root = supervision::spawn_supervisor(*sys, flags, std::move(children));
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::sec::request_timeout};
    (*self)
        ->request(dest, 10s, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::actor child(const std::string& id) {
    auto result = call<caf::actor>(root, caf::get_atom::value, id);
    BOOST_REQUIRE(result);
    return *result;
  }
};

} // namespace

//   root (rest_for_one)
//    +-- journal   <- found as a journal_actor
//    +-- carts     <- found as a cart_directory_actor; serves carts
//    +-- probe
BOOST_FIXTURE_TEST_CASE(specs_start_a_typed_journal_and_directory_that_serve,
                        fixture) {
  start();
  caf::actor saw_journal;
  caf::actor saw_directory;
  (*self)->receive(
      [&](saw_atom, caf::actor& journal, caf::actor& directory) {
        saw_journal = std::move(journal);
        saw_directory = std::move(directory);
      },
      caf::after(10s) >> [] {});
  BOOST_REQUIRE(saw_journal);
  BOOST_REQUIRE(saw_directory);
  BOOST_CHECK(saw_journal == child(journal_child_id));
  BOOST_CHECK(saw_directory == child(directory_child_id));
  auto directory = caf::actor_cast<cart_directory_actor>(saw_directory);
  auto cart =
      call<cart_actor>(directory, resolve_atom::value, std::string{"c1"});
  BOOST_REQUIRE(cart);
  cart_mutation add;
  add.kind = mutation_kind::add_item;
  add.item = "apple";
  add.quantity = 2;
  auto view = call<cart_view>(*cart, std::move(add));
  BOOST_REQUIRE(view);
  BOOST_REQUIRE_EQUAL(view->lines.size(), 1u);
  // The change went through the journal child into the backend.
  auto stored = backend->replay("c1", 0);
  BOOST_REQUIRE(stored);
  BOOST_CHECK_EQUAL(stored->size(), 1u);
}

BOOST_AUTO_TEST_CASE(add_cartd_types_registers_every_type_and_category) {
  caf::actor_system_config cfg;
  add_cartd_types(cfg);
  caf::actor_system sys{cfg};
  BOOST_CHECK_NE(sys.render(make_error(cart_errc::unavailable))
                     .find("cart_error(unavailable"),
                 std::string::npos);
  BOOST_CHECK_NE(sys.render(make_error(journal_errc::conflict, "x"))
                     .find("journal_error(conflict"),
                 std::string::npos);
  BOOST_CHECK_NE(
      sys.render(supervision::make_error(
                     supervision::supervision_errc::intensity_exceeded))
          .find("supervisor_error(intensity_exceeded"),
      std::string::npos);
  for (auto name : {"cartd::journal_append", "cartd::journal_recovery",
                    "cartd::cart_view", "cartd::cart_mutation"})
    BOOST_CHECK_MESSAGE(sys.types().make_value(name) != nullptr,
                        name << " is not registered");
}
