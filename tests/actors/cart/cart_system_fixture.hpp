#pragma once

// A node's cart subsystem (journal over a memory journal, directory, shards,
// carts) on CAF's deterministic test_coordinator, for the directory's and
// the cluster router's tests: nothing runs until the test calls run(), which
// runs every actor until no message is left, so a reply that is not in the
// test's mailbox after run() never comes. Timers fire only through
// fire_timers() (all of them) or advance(d) (those due within d of virtual
// time).

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/subsystem.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "runtime/supervision/supervisor.hpp"
#include "tests/runtime/journal/failing_journal.hpp"

namespace cartd::test {

/// The failing memory journal, run by the journal actor on the test's
/// scheduler.
struct scheduler_journal : failing_journal {
  bool blocks() const noexcept override { return false; }
};

inline caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  add_cartd_types(cfg);
  return cfg;
}

inline cart_mutation add_mutation(const std::string& item, int64_t quantity) {
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = item;
  m.quantity = quantity;
  return m;
}

struct cart_system_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<scheduler_journal> backend =
      std::make_shared<scheduler_journal>();
  caf::actor root;
  caf::actor journal;
  cart_directory_actor directory;
  /// While set, run() runs every actor but the journal: writes stay in
  /// flight.
  bool journal_held = false;

  cart_system_fixture()
      : sys(deterministic(cfg)), self(sys, true),
        sched(
            dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // nop
  }

  ~cart_system_fixture() {
    journal_held = false;
    if (root) {
      caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
      for (int i = 0;
           i < 10 && (sched.has_job() || sched.has_pending_timeout()); ++i)
        fire_timers();
    }
  }

  /// Starts the journal and the directory under a rest_for_one root.
  void start(cart_settings carts = {}, directory_settings dir = {}) {
    cart_subsystem_settings settings;
    settings.carts = carts;
    settings.directory = dir;
    settings.journal.retry_for = caf::timespan{0};
    supervision::supervisor_flags flags;
    flags.how = supervision::strategy::rest_for_one;
    root = supervision::spawn_supervisor(
        sys, flags, cart_subsystem_specs(backend, settings));
    run();
    auto child = call<caf::actor>(root, caf::get_atom::value,
                                  std::string{directory_child_id});
    BOOST_REQUIRE(child && *child);
    directory = caf::actor_cast<cart_directory_actor>(*child);
    auto j = call<caf::actor>(root, caf::get_atom::value,
                              std::string{journal_child_id});
    BOOST_REQUIRE(j && *j);
    journal = *j;
  }

  // -- running ----------------------------------------------------------------

  void run() {
    if (!journal_held) {
      sched.run();
      return;
    }
    auto held = dynamic_cast<caf::resumable*>(
        caf::actor_cast<caf::abstract_actor*>(journal));
    sched.run_jobs_filtered([held](caf::resumable* x) { return x != held; });
  }

  /// Fires every timer (whatever their virtual time), then runs.
  void fire_timers() {
    sched.trigger_timeouts();
    run();
  }

  /// Advances the virtual clock by `d` (firing what is due), then runs.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    run();
  }

  // -- talking to actors ------------------------------------------------------

  /// Sends a request and runs; the reply, if one came.
  template <class T, class Handle, class... Ts>
  std::optional<caf::expected<T>> try_call(const Handle& dest, Ts&&... xs) {
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    if (self->mailbox().empty())
      return std::nullopt;
    caf::expected<T> result{caf::sec::none};
    handle.receive([&](T& x) { result = std::move(x); },
                   [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    auto result = try_call<T>(dest, std::forward<Ts>(xs)...);
    if (!result)
      BOOST_FAIL("no reply after running every actor");
    return std::move(*result);
  }

  cart_actor resolve(const std::string& id) {
    auto cart = call<cart_actor>(directory, resolve_atom::value, id);
    if (!cart)
      BOOST_FAIL("resolve " << id << " failed: " << sys.render(cart.error()));
    return *cart;
  }

  /// Receives the reply `handle` (a request of `self`) waits for. After
  /// run(), a reply that is not in the mailbox never comes: fails the test
  /// then (a blocking receive would not return).
  template <class Handle, class... Fs>
  void receive_reply(Handle& handle, Fs... fs) {
    if (self->mailbox().empty()) {
      BOOST_ERROR("no reply after running every actor");
      return;
    }
    handle.receive(std::move(fs)...);
  }

  /// The next message waiting for the test, if it is a T.
  template <class T>
  std::optional<T> next() {
    std::optional<T> result;
    self->receive([&](T& x) { result = std::move(x); },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return result;
  }
};

} // namespace cartd::test
