// The journal actor over a real memory backend that can be made to fail
// commits, as a full or stalled disk would: group commit, retries, the one
// rule across commits, and the order of recoveries against appends. Runs on
// CAF's deterministic test_coordinator: every message is delivered by
// sched.run() on this thread, and retries wait for virtual time.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "runtime/journal/journal.hpp"
#include "runtime/journal/journal_actor_impl.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "tests/runtime/journal/failing_journal.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.inline-output", true);
  cfg.add_message_types<caf::id_block::cartd_runtime>();
  add_journal_error_category(cfg);
  return cfg;
}

bool is_conflict(const caf::error& err) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(journal_errc::conflict);
}

bool is_unavailable(const caf::error& err) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(journal_errc::unavailable);
}

struct journal_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<test::failing_journal> backend =
      std::make_shared<test::failing_journal>();
  caf::actor parent;
  journal_actor journal;

  journal_fixture()
      : sys(init(cfg)), sched(dynamic_cast<caf::scheduler::test_coordinator&>(
                            sys.scheduler())) {
    // On the scheduler: the test coordinator runs no detached actor.
    backend->blocking = false;
  }

  ~journal_fixture() {
    if (journal)
      caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
    if (parent)
      caf::anon_send_exit(parent, caf::exit_reason::user_shutdown);
    sched.run();
    journal = nullptr;
    parent = nullptr;
  }

  void start(journal_settings settings = {}) {
    // spawn_journal wants a parent (its supervisor in the node). The
    // parent's initializer runs inside sched.run(), on this thread.
    auto b = backend;
    parent = sys.spawn([this, b, settings](caf::event_based_actor* self) {
      journal = spawn_journal(self, b, settings);
      return caf::behavior{[](caf::ok_atom) {}};
    });
    sched.run();
    BOOST_REQUIRE(journal);
  }

  static journal_append append_to(const std::string& stream, uint64_t after,
                                  std::string payload, uint64_t tag = 0,
                                  uint64_t expected_tag = 0) {
    journal_append x;
    x.stream = stream;
    x.expected_seq = after;
    x.expected_tag = expected_tag;
    x.tag = tag;
    x.payloads.push_back(std::move(payload));
    return x;
  }

  /// The next message `who` got, if any. Call it after sched.run(): then
  /// nothing is on its way.
  template <class T>
  static std::optional<caf::expected<T>> reply_of(caf::scoped_actor& who) {
    std::optional<caf::expected<T>> result;
    who->receive(
        [&](T& x) { result = caf::expected<T>{std::move(x)}; },
        [&](caf::error& err) { result = caf::expected<T>{std::move(err)}; },
        caf::after(0s) >> [] {});
    return result;
  }

  void recover(caf::scoped_actor& who, const std::string& stream) {
    who->send(journal, recover_atom::value, stream, int64_t{0});
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(journal_actor_tests, journal_fixture)

BOOST_AUTO_TEST_CASE(appends_that_queue_up_share_one_commit) {
  start();
  constexpr int n = 200;
  caf::scoped_actor self{sys, true};
  for (int i = 0; i < n; ++i)
    self->send(journal, append_atom::value,
               append_to("s" + std::to_string(i), 0, "e"));
  sched.run();
  for (int i = 0; i < n; ++i) {
    auto got = reply_of<uint64_t>(self);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(*got);
    BOOST_TEST(**got == 1u);
  }
  BOOST_TEST(backend->commits.load() == 1);
  BOOST_TEST(backend->largest_batch.load() == size_t{n});
}

BOOST_AUTO_TEST_CASE(max_batch_bounds_a_commit) {
  journal_settings settings;
  settings.max_batch = 3;
  start(settings);
  caf::scoped_actor self{sys, true};
  for (int i = 0; i < 7; ++i)
    self->send(journal, append_atom::value,
               append_to("s" + std::to_string(i), 0, "e"));
  sched.run();
  for (int i = 0; i < 7; ++i) {
    auto got = reply_of<uint64_t>(self);
    BOOST_REQUIRE(got && *got);
  }
  BOOST_TEST(backend->largest_batch.load() == 3u);
  BOOST_TEST(backend->commits.load() == 3);
}

// One commit per append, so the append sent behind the failed one is judged
// in a later commit than the one that failed: no memory of the failure is
// needed, its expected tag does it.
BOOST_AUTO_TEST_CASE(
    an_append_sent_behind_a_failed_one_fails_in_a_later_commit) {
  journal_settings settings;
  settings.max_batch = 1;
  start(settings);
  BOOST_REQUIRE(backend->append_batch({append_to("cart", 0, "other", 1)})[0]);
  auto commits_before = backend->commits.load();
  caf::scoped_actor cart{sys, true};
  // Sent ahead, as a cart pipelines (its tag is 2): the first is stale, the
  // second's expected_seq matches only because of the other writer's event.
  cart->send(journal, append_atom::value, append_to("cart", 0, "first", 2));
  cart->send(journal, append_atom::value, append_to("cart", 1, "second", 2, 2));
  sched.run();
  for (int i = 0; i < 2; ++i) {
    auto got = reply_of<uint64_t>(cart);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(!*got);
    BOOST_TEST(is_conflict(got->error()));
  }
  BOOST_TEST(backend->commits.load() - commits_before == 2);
  // The cart restarted (tag 3) recovers the other writer's event and
  // extends it.
  caf::scoped_actor restarted{sys, true};
  recover(restarted, "cart");
  sched.run();
  auto state = reply_of<journal_recovery>(restarted);
  BOOST_REQUIRE(state && *state);
  BOOST_TEST((*state)->last_tag == 1u);
  restarted->send(journal, append_atom::value,
                  append_to("cart", 1, "third", 3, (*state)->last_tag));
  sched.run();
  auto seq = reply_of<uint64_t>(restarted);
  BOOST_REQUIRE(seq && *seq);
  BOOST_TEST(**seq == 2u);
  auto events = backend->replay("cart", 0);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 2u);
  BOOST_TEST(events->front().payload == "other");
  BOOST_TEST(events->back().payload == "third");
}

// The same in one commit, next to another writer's appends that land.
BOOST_AUTO_TEST_CASE(
    an_append_sent_behind_a_failed_one_fails_in_the_same_commit) {
  start();
  BOOST_REQUIRE(backend->append_batch({append_to("cart", 0, "a", 1)})[0]);
  caf::scoped_actor stale{sys, true};
  caf::scoped_actor other{sys, true};
  // `other` (tag 3) extends event 1 first; `stale` (tag 2) had sent two
  // appends decided on event 1 too.
  other->send(journal, append_atom::value, append_to("cart", 1, "o1", 3, 1));
  stale->send(journal, append_atom::value, append_to("cart", 1, "s1", 2, 1));
  stale->send(journal, append_atom::value, append_to("cart", 2, "s2", 2, 2));
  other->send(journal, append_atom::value, append_to("cart", 2, "o2", 3, 3));
  auto commits_before = backend->commits.load();
  sched.run();
  BOOST_TEST(backend->commits.load() - commits_before == 1);
  for (int i = 0; i < 2; ++i) {
    auto got = reply_of<uint64_t>(stale);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(!*got);
    BOOST_TEST(is_conflict(got->error()));
  }
  for (uint64_t want : {2u, 3u}) {
    auto got = reply_of<uint64_t>(other);
    BOOST_REQUIRE(got && *got);
    BOOST_TEST(**got == want);
  }
}

BOOST_AUTO_TEST_CASE(a_failing_commit_is_retried_until_it_lands) {
  start();
  backend->fail_commits = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1"));
  sched.run();
  BOOST_TEST(backend->failed_commits.load() == 1);
  BOOST_TEST(!reply_of<uint64_t>(self));
  BOOST_REQUIRE(sched.trigger_timeouts() == 1u);
  sched.run();
  BOOST_TEST(backend->failed_commits.load() == 2);
  BOOST_TEST(!reply_of<uint64_t>(self));
  backend->fail_commits = false;
  BOOST_REQUIRE(sched.trigger_timeouts() == 1u);
  sched.run();
  auto got = reply_of<uint64_t>(self);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST(**got == 1u);
}

BOOST_AUTO_TEST_CASE(
    a_commit_failing_for_longer_than_retry_for_fails_its_appends) {
  journal_settings settings;
  settings.retry_for = 1s;
  start(settings);
  backend->fail_commits = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1"));
  sched.run();
  std::optional<caf::expected<uint64_t>> got;
  auto start_time = sys.clock().now();
  for (int i = 0; i < 100 && !got; ++i) {
    sched.trigger_timeouts();
    sched.run();
    got = reply_of<uint64_t>(self);
  }
  BOOST_REQUIRE(got);
  BOOST_REQUIRE(!*got);
  BOOST_TEST(is_unavailable(got->error()));
  BOOST_TEST((sys.clock().now() - start_time >= 1s));
  BOOST_TEST(backend->failed_commits.load() > 2);
  BOOST_TEST(backend->replay("cart", 0)->empty());
}

// A cart that gave up waiting for its write and was activated again reads
// its stream: that read must not miss the write the journal is still
// retrying, or the cart would serve a state older than its journal.
BOOST_AUTO_TEST_CASE(a_recovery_waits_for_a_retried_append_to_its_stream) {
  journal_settings settings;
  settings.retry_for = 60s;
  start(settings);
  backend->fail_commits = true;
  caf::scoped_actor writer{sys, true};
  writer->send(journal, append_atom::value, append_to("cart", 0, "e1", 7));
  sched.run();
  BOOST_REQUIRE(backend->failed_commits.load() == 1);
  // Recover "cart" while its append is being retried, then another stream:
  // the journal answers the other one at once.
  caf::scoped_actor reader{sys, true};
  caf::scoped_actor other{sys, true};
  recover(reader, "cart");
  recover(other, "other-cart");
  sched.run();
  auto unrelated = reply_of<journal_recovery>(other);
  BOOST_REQUIRE(unrelated && *unrelated);
  BOOST_TEST((*unrelated)->events.empty());
  BOOST_TEST(!reply_of<journal_recovery>(reader));
  BOOST_TEST(backend->commits.load() == 0);
  backend->fail_commits = false;
  BOOST_REQUIRE(sched.trigger_timeouts() == 1u);
  sched.run();
  auto got = reply_of<journal_recovery>(reader);
  BOOST_REQUIRE(got && *got);
  BOOST_REQUIRE((*got)->events.size() == 1u);
  BOOST_TEST((*got)->events[0].payload == "e1");
  BOOST_TEST((*got)->last_tag == 7u);
  auto seq = reply_of<uint64_t>(writer);
  BOOST_REQUIRE(seq && *seq);
  BOOST_TEST(**seq == 1u);
}

// Appends queued behind the current commit are committed before a recovery
// of their stream is answered.
BOOST_AUTO_TEST_CASE(a_recovery_sees_appends_that_arrived_before_it) {
  start();
  caf::scoped_actor writer{sys, true};
  caf::scoped_actor reader{sys, true};
  writer->send(journal, append_atom::value, append_to("cart", 0, "e1", 5));
  recover(reader, "cart");
  sched.run();
  auto got = reply_of<journal_recovery>(reader);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST((*got)->events.size() == 1u);
  BOOST_TEST((*got)->last_tag == 5u);
  auto seq = reply_of<uint64_t>(writer);
  BOOST_REQUIRE(seq && *seq);
}

BOOST_AUTO_TEST_SUITE_END()
