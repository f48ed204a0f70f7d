#define BOOST_TEST_MODULE actors_cart_actor
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/response_type.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cart/actor/cart_actor_impl.hpp"
#include "actors/cart/actor/event_codec.hpp"
#include "actors/cart/directory/cart_directory.hpp"
#include "actors/cart/protocol/cart_actor.hpp"
#include "actors/cart/subsystem.hpp"
#include "bindings/cart_http/error_map.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/journal_actor_impl.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "runtime/supervision/supervisor.hpp"
#include "tests/runtime/journal/failing_journal.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

cart_mutation add_mutation(const std::string& item, int64_t quantity) {
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = item;
  m.quantity = quantity;
  return m;
}

/// The failing memory journal, run by the journal actor on the test's
/// scheduler (a backend that blocks would get a thread of its own).
struct test_journal : test::failing_journal {
  bool blocks() const noexcept override { return false; }

  /// While set, every append is refused as pg_journal refuses an append of
  /// a node that is no longer a cluster member (nothing stored).
  std::atomic<bool> fenced{false};

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override {
    if (fenced)
      return std::vector<caf::expected<uint64_t>>(
          batch.size(), make_error(journal_errc::fenced, "no longer a member"));
    return failing_journal::append_batch(batch);
  }
};

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  add_cartd_types(cfg);
  return cfg;
}

// Every actor runs on CAF's deterministic test_coordinator: nothing runs
// until the test calls run(), which runs every actor until no message is
// left. So a reply that is not in the test's mailbox after run() never
// comes, and "no down message" is a fact, not a timeout. Timers (the
// shards' idle sweeps, the supervisors') fire only in fire_timers().
//
// The carts' own clock is the real steady clock (idle time, min_residency):
// tests of idle passivation set an idle timeout of 1 ns, so that the first
// sweep finds the cart idle.
struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<test_journal> backend = std::make_shared<test_journal>();
  caf::actor root;
  caf::actor journal;
  cart_directory_actor directory;
  /// While set, run() runs every actor but the journal: a commit that takes
  /// its time (the journal's mailbox fills up meanwhile).
  bool journal_held = false;

  fixture()
      : sys(deterministic(cfg)), self(sys, true),
        sched(
            dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // nop
  }

  ~fixture() {
    journal_held = false;
    if (root) {
      caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
      for (int i = 0;
           i < 10 && (sched.has_job() || sched.has_pending_timeout()); ++i)
        fire_timers();
    }
  }

  void start(cart_settings carts = {}, directory_settings dir = {}) {
    cart_subsystem_settings settings;
    settings.carts = carts;
    settings.directory = dir;
    // A failed commit fails at once: the journal's retries run on the real
    // clock (its own tests cover them).
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

  caf::resumable* journal_job() {
    return dynamic_cast<caf::resumable*>(
        caf::actor_cast<caf::abstract_actor*>(journal));
  }

  /// Runs every actor (but the journal while journal_held) until no
  /// message is left.
  void run() {
    if (!journal_held) {
      sched.run();
      return;
    }
    auto held = journal_job();
    sched.run_jobs_filtered([held](caf::resumable* x) { return x != held; });
  }

  /// Lets the journal handle the next message in its mailbox, and only that.
  void step_journal() {
    BOOST_REQUIRE(sched.prioritize(journal));
    sched.run_once();
  }

  /// Fires every timer due (whatever their virtual time), then runs.
  void fire_timers() {
    sched.trigger_timeouts();
    run();
  }

  // -- talking to actors ------------------------------------------------------

  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::sec::none};
    auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    if (self->mailbox().empty())
      BOOST_FAIL("no reply after running every actor");
    handle.receive([&](T& x) { result = std::move(x); },
                   [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  cart_actor resolve(const std::string& id) {
    auto cart = call<cart_actor>(directory, resolve_atom::value, id);
    if (!cart)
      BOOST_FAIL("resolve " << id << " failed: " << sys.render(cart.error()));
    return *cart;
  }

  caf::expected<cart_view> get(const std::string& id) {
    return call<cart_view>(resolve(id), caf::get_atom::value, std::string{});
  }

  caf::expected<cart_view> add(const std::string& id, const std::string& item,
                               int64_t quantity) {
    return call<cart_view>(resolve(id), add_mutation(item, quantity));
  }

  /// The next message waiting for the test, if it is a T (or nothing is
  /// waiting: nullopt). Call after run().
  template <class T>
  std::optional<T> next() {
    std::optional<T> result;
    self->receive([&](T& x) { result = std::move(x); },
                  caf::after(std::chrono::seconds{0}) >> [] {});
    return result;
  }

  /// The down message of a monitored actor, if it is waiting.
  std::optional<caf::down_msg> next_down() { return next<caf::down_msg>(); }

  /// Fires timers (idle sweeps) until a monitored actor's down message is
  /// in, at most `rounds` times.
  std::optional<caf::down_msg> await_down(int rounds = 10) {
    for (int i = 0; i < rounds; ++i) {
      if (auto down = next_down())
        return down;
      fire_timers();
    }
    return next_down();
  }
};

cart_errc errc_of(const caf::error& err) {
  return to_cart_errc(err);
}

template <class Handle, class... Ts>
constexpr bool accepts =
    caf::response_type_unbox<caf::signatures_of_t<Handle>,
                             caf::detail::type_list<Ts...>>::valid;

// What a cart's shard asks it is not part of what the front end may say.
static_assert(!accepts<cart_actor, passivate_atom>);
static_assert(!accepts<cart_actor, idle_check_atom>);
static_assert(accepts<cart_control_actor, passivate_atom>);
static_assert(accepts<cart_control_actor, idle_check_atom>);

} // namespace

BOOST_AUTO_TEST_CASE(every_event_survives_the_journal_format) {
  std::vector<cart_event> events{item_added{"apple", 2},
                                 item_quantity_set{"p\xc3\xa9"
                                                   "ar",
                                                   7},
                                 item_removed{"apple"}, cart_cleared{},
                                 cart_checked_out{}};
  for (auto& ev : events) {
    auto decoded = decode_event(encode_event(ev));
    BOOST_REQUIRE(decoded);
    BOOST_CHECK(*decoded == ev);
  }
  // The documented v1 shape (docs/event-format.md), byte for byte.
  BOOST_CHECK_EQUAL(
      encode_event(item_added{"apple", 2}),
      R"({"v":1,"type":"item_added","item":"apple","quantity":2})");
  BOOST_CHECK_EQUAL(encode_event(item_removed{"say \"hi\""}),
                    R"({"v":1,"type":"item_removed","item":"say \"hi\""})");
  BOOST_CHECK_EQUAL(encode_event(cart_checked_out{}),
                    R"({"v":1,"type":"cart_checked_out"})");
  BOOST_CHECK(!decode_event("not json"));
  BOOST_CHECK(!decode_event(R"({"v":2,"type":"cart_cleared"})"));
  BOOST_CHECK(!decode_event(R"({"v":1,"type":"item_added","item":"a"})"));
}

BOOST_AUTO_TEST_CASE(the_journal_format_refuses_what_decide_never_writes) {
  // Found by tests/fuzz/journal_decode (issue 13): a snapshot line of 0 was
  // recovered as is, and an item_added of 2^63-1 twice overflowed the line.
  auto added = [](const std::string& item, const std::string& quantity) {
    return R"({"v":1,"type":"item_added","item":")" + item +
           R"(","quantity":)" + quantity + "}";
  };
  auto set = [](const std::string& quantity) {
    return R"({"v":1,"type":"item_quantity_set","item":"a","quantity":)" +
           quantity + "}";
  };
  BOOST_CHECK(decode_event(added("a", "1")));
  BOOST_CHECK(decode_event(added("a", "1000000")));
  for (auto q :
       {"0", "-1", "1000001", "9223372036854775807", "18446744073709551615"})
    BOOST_CHECK_MESSAGE(!decode_event(added("a", q)), q);
  BOOST_CHECK(!decode_event(added("", "1")));
  BOOST_CHECK(!decode_event(added("\\u0001", "1")));
  BOOST_CHECK(!decode_event(R"({"v":1,"type":"item_removed","item":""})"));
  BOOST_CHECK(decode_event(set("1000000000")));
  BOOST_CHECK(!decode_event(set("1000000001")));
  BOOST_CHECK(!decode_event(set("0")));
  auto snapshot = [](const std::string& lines) {
    return R"({"v":1,"lines":{)" + lines +
           R"(},"checked_out":false,"version":3})";
  };
  BOOST_CHECK(decode_state(snapshot(R"("a":1000000000,"b":1)")));
  BOOST_CHECK(!decode_state(snapshot(R"("a":2,"pear":0)")));
  BOOST_CHECK(!decode_state(snapshot(R"("a":1000000001)")));
  BOOST_CHECK(!decode_state(snapshot(R"("a":-5)")));
  BOOST_CHECK(!decode_state(snapshot(R"("a":18446744073709551615)")));
  BOOST_CHECK(!decode_state(snapshot(R"("":1)")));
}

BOOST_FIXTURE_TEST_SUITE(cart_actor_tests, fixture)

BOOST_AUTO_TEST_CASE(a_never_touched_cart_is_empty_at_version_zero) {
  start();
  auto view = get("fresh");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->id, "fresh");
  BOOST_CHECK(view->lines.empty());
  BOOST_CHECK_EQUAL(view->version, 0u);
}

BOOST_AUTO_TEST_CASE(an_acknowledged_change_is_in_the_journal) {
  start();
  auto view = add("c1", "apple", 2);
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->version, 1u);
  BOOST_CHECK_EQUAL(view->total_quantity, 2);
  auto stored = backend->replay("c1", 0);
  BOOST_REQUIRE(stored);
  BOOST_REQUIRE_EQUAL(stored->size(), 1u);
  auto expected = cart_event{item_added{"apple", 2}};
  BOOST_CHECK(*decode_event(stored->front().payload) == expected);
}

BOOST_AUTO_TEST_CASE(a_refused_change_writes_nothing) {
  start();
  auto view = add("c1", "apple", 0);
  BOOST_REQUIRE(!view);
  BOOST_CHECK(errc_of(view.error()) == cart_errc::invalid_quantity);
  BOOST_CHECK(backend->replay("c1", 0)->empty());
}

BOOST_AUTO_TEST_CASE(a_stale_expected_version_is_refused) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = "pear";
  m.quantity = 1;
  m.has_expected_version = true;
  m.expected_version = 0;
  auto refused = call<cart_view>(resolve("c1"), m);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(errc_of(refused.error()) == cart_errc::version_mismatch);
  m.expected_version = 1;
  auto accepted = call<cart_view>(resolve("c1"), m);
  BOOST_REQUIRE(accepted);
  BOOST_CHECK_EQUAL(accepted->version, 2u);
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_an_error_and_changes_nothing) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  backend->fail_commits = true;
  auto failed = add("c1", "apple", 5);
  BOOST_REQUIRE(!failed);
  BOOST_CHECK(errc_of(failed.error()) == cart_errc::storage_failure);
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 1);
  BOOST_CHECK_EQUAL(view->version, 1u);
  backend->fail_commits = false;
  auto retried = add("c1", "apple", 5);
  BOOST_REQUIRE(retried);
  BOOST_CHECK_EQUAL(retried->total_quantity, 6);
  BOOST_CHECK_EQUAL(retried->version, 2u);
}

// The journal's store lost the commit's outcome (the connection died during
// COMMIT) and the journal's retries did not settle it: the change may have
// been applied. The client is told so (503: retry with the same
// Idempotency-Key), and the cart stops, so that the next change is decided
// on the journal's state, not on the state the cart held.
BOOST_AUTO_TEST_CASE(
    an_unknown_outcome_is_answered_as_such_and_reloads_the_cart) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  auto cart = resolve("c1");
  self->monitor(cart);
  backend->unknown_outcomes = true;
  backend->store_unknown = true; // the COMMIT went through
  auto unknown = call<cart_view>(cart, add_mutation("apple", 2));
  BOOST_REQUIRE(!unknown);
  auto code = errc_of(unknown.error());
  BOOST_CHECK(code == cart_errc::timeout);
  auto reply = error_reply(code, sys.render(unknown.error()));
  BOOST_CHECK_EQUAL(reply.status, 503u);
  BOOST_CHECK(reply.body.find("may or may not have been applied") !=
              std::string::npos);
  BOOST_CHECK(reply.body.find("retry with the same Idempotency-Key") !=
              std::string::npos);
  BOOST_CHECK(await_down()); // the cart stopped
  backend->unknown_outcomes = false;
  // A new incarnation reads the journal, which holds the change.
  auto next = add("c1", "pear", 1);
  BOOST_REQUIRE(next);
  BOOST_CHECK_EQUAL(next->version, 3u);
  BOOST_CHECK_EQUAL(next->total_quantity, 4);
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), 3u);
}

BOOST_AUTO_TEST_CASE(a_cart_restarted_after_a_crash_keeps_its_state) {
  cart_settings carts;
  carts.fault_injection = true;
  start(carts);
  BOOST_REQUIRE(add("c1", "apple", 2));
  BOOST_REQUIRE(add("c2", "pear", 1));
  auto before = resolve("c1");
  auto old_view = call<cart_view>(before, caf::get_atom::value, std::string{});
  BOOST_REQUIRE(old_view);
  BOOST_CHECK_NE(old_view->incarnation, 0u);
  auto crash = call<cart_view>(before, crash_atom::value);
  BOOST_REQUIRE(!crash);
  BOOST_CHECK(errc_of(crash.error()) == cart_errc::crashed);
  // The restarted cart is a new actor with the same state.
  auto after = resolve("c1");
  for (int i = 0; i < 10 && after == before; ++i) {
    fire_timers(); // in case the restart waits for a timer
    after = resolve("c1");
  }
  BOOST_CHECK(after != before);
  auto view = call<cart_view>(after, caf::get_atom::value, std::string{});
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 2);
  BOOST_CHECK_EQUAL(view->version, 1u);
  // ... and a new incarnation: a copy of the old one is not current.
  BOOST_CHECK_NE(view->incarnation, 0u);
  BOOST_CHECK_NE(view->incarnation, old_view->incarnation);
  auto neighbour = get("c2");
  BOOST_REQUIRE(neighbour);
  BOOST_CHECK_EQUAL(neighbour->total_quantity, 1);
}

BOOST_AUTO_TEST_CASE(a_cart_that_crashes_too_often_is_unavailable) {
  cart_settings carts;
  carts.fault_injection = true;
  directory_settings dir;
  dir.cart_intensity.max_restarts = 1;
  dir.cart_intensity.period = 60s;
  dir.unavailable_for = 60s;
  start(carts, dir);
  BOOST_REQUIRE(add("c1", "apple", 2));
  BOOST_REQUIRE(add("c2", "pear", 1));
  auto crashes = 0;
  caf::error last;
  // The first crash is restarted; the second exceeds the budget.
  for (int i = 0; i < 50 && crashes < 2; ++i) {
    auto cart =
        call<cart_actor>(directory, resolve_atom::value, std::string{"c1"});
    if (!cart)
      break;
    auto result = call<cart_view>(*cart, crash_atom::value);
    if (!result && errc_of(result.error()) == cart_errc::crashed)
      ++crashes;
  }
  BOOST_CHECK_EQUAL(crashes, 2);
  caf::expected<cart_actor> unavailable{caf::sec::none};
  for (int i = 0; i < 10; ++i) {
    unavailable =
        call<cart_actor>(directory, resolve_atom::value, std::string{"c1"});
    if (!unavailable)
      break;
    fire_timers(); // in case giving up waits for a timer
  }
  BOOST_REQUIRE(!unavailable);
  BOOST_CHECK(errc_of(unavailable.error()) == cart_errc::unavailable);
  auto neighbour = get("c2");
  BOOST_REQUIRE(neighbour);
  BOOST_CHECK_EQUAL(neighbour->total_quantity, 1);
}

BOOST_AUTO_TEST_CASE(a_passivated_cart_comes_back_intact) {
  cart_settings carts;
  carts.idle_timeout = caf::timespan{1};
  start(carts);
  BOOST_REQUIRE(add("c1", "apple", 3));
  auto first = resolve("c1");
  self->monitor(first);
  BOOST_CHECK(!next_down()); // no timer fired yet: the cart stays
  auto down = await_down();  // the shard's idle sweep
  BOOST_REQUIRE(down);
  BOOST_CHECK(!down->reason); // passivated, not crashed
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 3);
  BOOST_CHECK_EQUAL(view->version, 1u);
}

BOOST_AUTO_TEST_CASE(a_cart_after_passivation_extends_the_events_before_it) {
  cart_settings carts;
  carts.idle_timeout = caf::timespan{1};
  start(carts);
  BOOST_REQUIRE(add("c1", "apple", 3));
  auto first = resolve("c1");
  self->monitor(first);
  BOOST_REQUIRE(await_down());
  // The new incarnation's first append names the tag of the last event,
  // the incarnation before it (the journal refuses any other).
  auto next = add("c1", "pear", 1);
  BOOST_REQUIRE(next);
  BOOST_CHECK_EQUAL(next->version, 2u);
  BOOST_CHECK_EQUAL(next->total_quantity, 4);
}

BOOST_AUTO_TEST_CASE(an_invalid_cart_id_is_refused_by_the_directory) {
  start();
  auto cart = call<cart_actor>(directory, resolve_atom::value,
                               std::string{"no/slashes"});
  BOOST_REQUIRE(!cart);
  BOOST_CHECK(errc_of(cart.error()) == cart_errc::invalid_cart_id);
}

BOOST_AUTO_TEST_CASE(concurrent_changes_to_one_cart_are_all_applied_in_order) {
  start();
  auto cart = resolve("c1");
  auto m = add_mutation("apple", 1);
  constexpr int n = 100;
  for (int i = 0; i < n; ++i)
    self->send(cart, m);
  run();
  for (int i = 0; i < n; ++i)
    BOOST_REQUIRE(next<cart_view>());
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, n);
  BOOST_CHECK_EQUAL(view->version, static_cast<uint64_t>(n));
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), static_cast<size_t>(n));
}

// -- pipelined writes ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(changes_queued_behind_a_slow_commit_share_the_next_one) {
  start();
  auto cart = resolve("c1");
  journal_held = true;
  self->send(cart, add_mutation("apple", 1));
  run();
  // The first change's commit takes its time; ten more arrive meanwhile.
  constexpr int n = 10;
  for (int i = 0; i < n; ++i)
    self->send(cart, add_mutation("pear", 1));
  run();
  // All eleven are sent to the journal (the cart does not wait for the
  // first acknowledgement); a get still sees version 0 and the cart answers.
  auto during = call<cart_view>(cart, caf::get_atom::value, std::string{});
  BOOST_REQUIRE(during);
  BOOST_CHECK_EQUAL(during->version, 0u);
  BOOST_CHECK(!next<cart_view>()); // nothing acknowledged yet
  journal_held = false;
  run();
  std::vector<uint64_t> versions;
  while (auto view = next<cart_view>())
    versions.push_back(view->version);
  std::vector<uint64_t> expected;
  for (uint64_t v = 1; v <= n + 1; ++v)
    expected.push_back(v);
  BOOST_CHECK(versions == expected); // answered in order
  BOOST_CHECK_GE(backend->largest_batch.load(), static_cast<size_t>(n));
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), size_t{n + 1});
}

BOOST_AUTO_TEST_CASE(a_change_refused_by_a_state_in_flight_waits_for_it) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  auto cart = resolve("c1");
  journal_held = true;
  cart_mutation checkout;
  checkout.kind = mutation_kind::checkout;
  self->send(cart, checkout);
  run();
  // Against the checked-out cart in flight this add would be refused; it
  // must not be, since the checkout is not stored (and will fail).
  self->send(cart, add_mutation("pear", 1));
  run();
  BOOST_CHECK(!next<caf::error>()); // not refused
  // The checkout's commit fails; the cart hears of it.
  backend->fail_commits = true;
  step_journal(); // the append
  step_journal(); // the commit
  run();
  auto checkout_error = next<caf::error>();
  BOOST_REQUIRE(checkout_error);
  BOOST_CHECK(errc_of(*checkout_error) == cart_errc::storage_failure);
  // The add, decided again against the stored state, is sent now.
  backend->fail_commits = false;
  journal_held = false;
  run();
  auto added = next<cart_view>();
  BOOST_REQUIRE(added);
  BOOST_CHECK(!added->checked_out);
  BOOST_CHECK_EQUAL(added->total_quantity, 2);
  BOOST_CHECK_EQUAL(added->version, 2u);
}

BOOST_AUTO_TEST_CASE(
    changes_sent_behind_a_failed_write_fail_and_the_cart_serves_on) {
  start();
  auto cart = resolve("c1");
  self->monitor(cart);
  journal_held = true;
  self->send(cart, add_mutation("apple", 1));
  run();
  step_journal(); // the journal takes the first append into its next commit
  self->send(cart, add_mutation("pear", 1));
  self->send(cart, add_mutation("plum", 1));
  run(); // the cart sends both behind the first
  backend->fail_commits = true;
  step_journal(); // the first one's commit fails
  // Then the disk is back, and the two sent behind it cannot be stored
  // (they extend version 1, which never was): all three say nothing was
  // changed.
  backend->fail_commits = false;
  journal_held = false;
  run();
  std::vector<cart_errc> errors;
  while (auto err = next<caf::error>())
    errors.push_back(errc_of(*err));
  BOOST_CHECK(!next<cart_view>()); // nothing stored behind a failed write
  BOOST_CHECK(
      (errors == std::vector<cart_errc>(3, cart_errc::storage_failure)));
  BOOST_CHECK(backend->replay("c1", 0)->empty());
  // The same incarnation goes on from the stored state.
  auto next = call<cart_view>(cart, add_mutation("apple", 2));
  BOOST_REQUIRE(next);
  BOOST_CHECK_EQUAL(next->version, 1u);
  BOOST_CHECK_EQUAL(next->total_quantity, 2);
  run();
  BOOST_CHECK(!next_down()); // still the same incarnation
}

BOOST_AUTO_TEST_CASE(a_retry_with_the_same_key_gets_the_original_reply) {
  start();
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = "apple";
  m.quantity = 2;
  m.idempotency_key = "order-1";
  auto first = call<cart_view>(resolve("c1"), m);
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(add("c1", "pear", 1)); // a later, unrelated change
  auto retry = call<cart_view>(resolve("c1"), m);
  BOOST_REQUIRE(retry);
  BOOST_CHECK_EQUAL(retry->version, first->version);
  BOOST_CHECK_EQUAL(retry->total_quantity, 2);
  auto now = get("c1");
  BOOST_REQUIRE(now);
  BOOST_CHECK_EQUAL(now->total_quantity, 3); // the retry changed nothing
  BOOST_CHECK_EQUAL(now->version, 2u);
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_key_reused_for_a_different_request_is_refused) {
  start();
  cart_mutation m;
  m.kind = mutation_kind::add_item;
  m.item = "apple";
  m.quantity = 2;
  m.idempotency_key = "k";
  BOOST_REQUIRE(call<cart_view>(resolve("c1"), m));
  m.quantity = 3;
  auto refused = call<cart_view>(resolve("c1"), m);
  BOOST_REQUIRE(!refused);
  BOOST_CHECK(errc_of(refused.error()) == cart_errc::idempotency_key_reused);
  // The same key on another cart is another key.
  auto other = call<cart_view>(resolve("c2"), m);
  BOOST_REQUIRE(other);
}

BOOST_AUTO_TEST_CASE(idempotency_keys_survive_a_restart_of_the_cart) {
  cart_settings carts;
  carts.fault_injection = true;
  start(carts);
  auto m = add_mutation("apple", 1);
  m.idempotency_key = "once";
  BOOST_REQUIRE(call<cart_view>(resolve("c1"), m));
  auto before = resolve("c1");
  BOOST_REQUIRE(!call<cart_view>(before, crash_atom::value));
  caf::expected<cart_view> retry{caf::sec::none};
  for (int i = 0; i < 10; ++i) {
    retry = call<cart_view>(resolve("c1"), m);
    if (retry || errc_of(retry.error()) != cart_errc::unavailable)
      break;
    fire_timers(); // in case the restart waits for a timer
  }
  BOOST_REQUIRE(retry);
  BOOST_CHECK_EQUAL(retry->total_quantity, 1);
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), 1u);
}

BOOST_AUTO_TEST_CASE(recovery_reads_the_latest_snapshot_and_later_events) {
  cart_settings carts;
  carts.snapshot_every = 10;
  carts.idle_timeout = caf::timespan{1};
  start(carts);
  for (int i = 0; i < 25; ++i)
    BOOST_REQUIRE(add("c1", "item-" + std::to_string(i % 7), 1));
  auto stored = backend->recover("c1", 0);
  BOOST_REQUIRE(stored);
  BOOST_CHECK_EQUAL(stored->snapshot_seq, 20u);
  BOOST_CHECK_EQUAL(stored->events.size(), 5u);
  auto snapshot = decode_state(stored->snapshot);
  BOOST_REQUIRE(snapshot);
  BOOST_CHECK_EQUAL(snapshot->version, 20u);
  BOOST_CHECK_EQUAL(snapshot->total_quantity(), 20);
  // Passivate, then activate from snapshot + events.
  auto first = resolve("c1");
  self->monitor(first);
  BOOST_REQUIRE(await_down());
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->version, 25u);
  BOOST_CHECK_EQUAL(view->total_quantity, 25);
  BOOST_CHECK_EQUAL(view->lines.size(), 7u);
}

BOOST_AUTO_TEST_CASE(the_resident_cap_passivates_least_recently_used_carts) {
  directory_settings dir;
  dir.shards = 1;
  dir.max_resident = 2;
  cart_settings carts;
  carts.min_residency = caf::timespan{0};
  start(carts, dir);
  BOOST_REQUIRE(add("a", "apple", 1));
  auto a = resolve("a");
  self->monitor(a);
  BOOST_REQUIRE(add("b", "apple", 2));
  BOOST_CHECK(!next_down());
  BOOST_REQUIRE(add("c", "apple", 3)); // "a" is now the least recent
  auto down = next_down();
  BOOST_REQUIRE(down);
  BOOST_CHECK(!down->reason); // passivated, not crashed
  auto view = get("a");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 1);
}

BOOST_AUTO_TEST_CASE(a_cart_just_activated_is_not_evicted_before_its_request) {
  // The front end resolves a cart, then sends it the request. A resolve of
  // another cart in between must not passivate it: its request would bounce.
  directory_settings dir;
  dir.shards = 1;
  dir.max_resident = 1;
  cart_settings carts;
  carts.min_residency = 10s;
  start(carts, dir);
  auto a = resolve("a"); // activated, nothing asked yet
  self->monitor(a);
  resolve("b"); // over the cap: "a" is asked to passivate
  resolve("c");
  run(); // every passivation request answered
  BOOST_CHECK(!next_down());
  auto m = add_mutation("apple", 1);
  auto view = call<cart_view>(a, m);
  if (!view)
    BOOST_FAIL("the request to the resolved cart failed: "
               << sys.render(view.error()));
  BOOST_CHECK_EQUAL(view->total_quantity, 1);
}

BOOST_AUTO_TEST_CASE(a_watcher_gets_every_stored_change_then_gone) {
  cart_settings carts;
  carts.idle_timeout = caf::timespan{1};
  start(carts);
  auto cart = resolve("w");
  caf::scoped_actor watcher{sys, true};
  auto watch = watcher->request(cart, caf::infinite, watch_atom::value,
                                caf::actor_cast<cart_watcher_actor>(watcher),
                                std::string{});
  run();
  std::optional<cart_view> watched;
  watch.receive([&](cart_view& x) { watched = std::move(x); },
                [&](caf::error& err) { BOOST_ERROR(caf::to_string(err)); });
  BOOST_REQUIRE(watched);
  BOOST_CHECK_EQUAL(watched->version, 0u);
  BOOST_CHECK_NE(watched->incarnation, 0u);
  // Changes made by someone else are pushed, in order; a refused one is not.
  BOOST_REQUIRE(add("w", "apple", 1));
  BOOST_CHECK(!add("w", "apple", 0)); // invalid quantity
  BOOST_REQUIRE(add("w", "pear", 2));
  std::vector<uint64_t> pushed;
  bool gone = false;
  // Reads what the watcher got so far.
  auto drain = [&] {
    for (bool more = true; more;)
      watcher->receive(
          [&](changed_atom, const cart_view& view) {
            BOOST_CHECK(!gone);
            pushed.push_back(view.version);
            BOOST_CHECK_EQUAL(view.incarnation, watched->incarnation);
            if (view.version == 2u)
              BOOST_CHECK_EQUAL(view.total_quantity, 3);
          },
          [&](gone_atom, const std::string& id, uint64_t incarnation) {
            BOOST_CHECK_EQUAL(id, "w");
            BOOST_CHECK_EQUAL(incarnation, watched->incarnation);
            gone = true;
          },
          caf::after(std::chrono::seconds{0}) >> [&] { more = false; });
  };
  drain();
  BOOST_CHECK((pushed == std::vector<uint64_t>{1, 2}));
  BOOST_CHECK(!gone); // still running
  // Idle, the cart passivates at the shard's next sweep and says so.
  for (int i = 0; i < 10 && !gone; ++i) {
    fire_timers();
    drain();
  }
  BOOST_CHECK(gone);
  BOOST_CHECK((pushed == std::vector<uint64_t>{1, 2}));
}

// -- cluster membership -------------------------------------------------------

// The journal refuses the append because this node is no longer a member of
// the cluster (its membership row is gone): nothing was stored, another node
// may own the cart now. The client hears "unavailable" with the reason, and
// the cart stops instead of serving a state that may be superseded.
BOOST_AUTO_TEST_CASE(a_fenced_write_is_unavailable_and_stops_the_cart) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  auto cart = resolve("c1");
  self->monitor(cart);
  backend->fenced = true;
  auto fenced = call<cart_view>(cart, add_mutation("apple", 2));
  BOOST_REQUIRE(!fenced);
  BOOST_CHECK(errc_of(fenced.error()) == cart_errc::unavailable);
  BOOST_TEST_INFO(sys.render(fenced.error()));
  BOOST_CHECK(
      sys.render(fenced.error()).find("no longer a member of the cluster") !=
      std::string::npos);
  run();
  auto down = next_down();
  BOOST_REQUIRE(down);
  BOOST_CHECK(down->source == cart.address());
  backend->fenced = false;
  // Nothing of the refused change was stored.
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 1);
  BOOST_CHECK_EQUAL(view->version, 1u);
}

// Writes sent behind a fenced one extend its event, which was never stored:
// they are answered unavailable too, and so are the queued ones.
BOOST_AUTO_TEST_CASE(the_writes_behind_a_fenced_one_are_unavailable_too) {
  start();
  BOOST_REQUIRE(add("c1", "apple", 1));
  auto cart = resolve("c1");
  backend->fenced = true;
  journal_held = true;
  self->send(cart, add_mutation("apple", 1));
  run();
  // The first change's commit takes its time; more are sent meanwhile.
  constexpr int n = 5;
  for (int i = 0; i < n; ++i)
    self->send(cart, add_mutation("pear", 1));
  run();
  journal_held = false;
  run();
  int unavailable = 0;
  while (auto err = next<caf::error>()) {
    BOOST_CHECK(errc_of(*err) == cart_errc::unavailable);
    ++unavailable;
  }
  BOOST_CHECK_EQUAL(unavailable, n + 1);
  BOOST_CHECK(!next<cart_view>());
  backend->fenced = false;
  BOOST_CHECK_EQUAL(backend->replay("c1", 0)->size(), size_t{1});
}

// Outside its lease this node may not serve any cart (another node may own
// it by now): every request is answered unavailable and the cart stops; once
// the lease is valid again, the cart comes back from the journal.
BOOST_AUTO_TEST_CASE(a_cart_serves_nothing_while_the_lease_is_not_valid) {
  auto lease = std::make_shared<cluster_lease>();
  lease->extend_to(cluster_lease::clock_type::now() + 1h);
  cart_settings carts;
  carts.lease = lease;
  start(carts);
  BOOST_REQUIRE(add("c1", "apple", 1));
  auto cart = resolve("c1");
  self->monitor(cart);
  lease->revoke();
  auto read = call<cart_view>(cart, caf::get_atom::value, std::string{});
  BOOST_REQUIRE(!read);
  BOOST_CHECK(errc_of(read.error()) == cart_errc::unavailable);
  BOOST_TEST_INFO(sys.render(read.error()));
  BOOST_CHECK(sys.render(read.error()).find("lease") != std::string::npos);
  run();
  auto down = next_down();
  BOOST_REQUIRE(down);
  BOOST_CHECK(down->source == cart.address());
  // A change to a cart activated meanwhile: refused, nothing stored.
  auto change = add("c1", "apple", 5);
  BOOST_REQUIRE(!change);
  BOOST_CHECK(errc_of(change.error()) == cart_errc::unavailable);
  auto watched = call<cart_view>(resolve("c1"), watch_atom::value,
                                 cart_watcher_actor{}, std::string{});
  BOOST_REQUIRE(!watched);
  BOOST_CHECK(errc_of(watched.error()) == cart_errc::unavailable);
  lease->extend_to(cluster_lease::clock_type::now() + 1h);
  auto view = get("c1");
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->total_quantity, 1);
  BOOST_CHECK_EQUAL(view->version, 1u);
}

// Without a lease (one node) nothing changes: covered by every other test
// here, which runs with cart_settings::lease null.

BOOST_AUTO_TEST_SUITE_END()
