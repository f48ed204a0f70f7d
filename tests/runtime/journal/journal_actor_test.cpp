// The journal actor over a real memory backend that can be made to fail
// commits, as a full or stalled disk would, or lose their outcome, as a lost
// connection would: group commit, retries, the one rule across commits, the
// order of recoveries against appends, readers, health. Runs on CAF's
// deterministic test_coordinator: every message is delivered by sched.run()
// on this thread, and retries wait for virtual time. Most tests run twice:
// with the backend called by the journal actor itself (no readers, as over
// the memory journal), and with the writer and readers on worker actors (as
// over a backend that blocks, where they get threads of their own). The
// last tests run the real thing on threads.

#include <boost/test/unit_test.hpp>

#include <boost/mpl/list.hpp>

#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

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
#include "runtime/metrics/node_metrics.hpp"
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

bool is_unknown_outcome(const caf::error& err) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(journal_errc::unknown_outcome);
}

/// The backend without readers: the journal actor calls it itself.
struct on_the_journal_actor {
  static constexpr bool readers = false;
};

/// The backend with readers: writer and readers on worker actors.
struct on_workers {
  static constexpr bool readers = true;
};

using modes = boost::mpl::list<on_the_journal_actor, on_workers>;

/// Whether `job` is the journal's writer (a worker actor).
bool is_writer(caf::resumable* job) {
  auto* actor = dynamic_cast<caf::local_actor*>(job);
  return actor != nullptr &&
         std::strcmp(actor->name(), "cartd.journal.writer") == 0;
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

  template <class Mode = on_the_journal_actor>
  void start(journal_settings settings = {}) {
    backend->readers = Mode::readers;
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

  /// Runs every actor but the writer: its commit takes its time.
  void run_holding_the_writer() {
    sched.run_jobs_filtered([](caf::resumable* x) { return !is_writer(x); });
  }

  /// Fires the retry timers until `who` has a reply, at most 100 times.
  template <class T>
  std::optional<caf::expected<T>> retry_until_answered(caf::scoped_actor& who) {
    std::optional<caf::expected<T>> got;
    for (int i = 0; i < 100 && !got; ++i) {
      sched.trigger_timeouts();
      sched.run();
      got = reply_of<T>(who);
    }
    return got;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(journal_actor_tests, journal_fixture)

BOOST_AUTO_TEST_CASE_TEMPLATE(appends_that_queue_up_share_one_commit, mode,
                              modes) {
  start<mode>();
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

BOOST_AUTO_TEST_CASE_TEMPLATE(max_batch_bounds_a_commit, mode, modes) {
  journal_settings settings;
  settings.max_batch = 3;
  start<mode>(settings);
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

BOOST_AUTO_TEST_CASE_TEMPLATE(metrics_count_appends_batches_and_commits, mode,
                              modes) {
  journal_settings settings;
  settings.max_batch = 3;
  settings.metrics = std::make_shared<metrics::node_metrics>(
      std::make_shared<metrics::registry>(), false);
  auto& m = *settings.metrics;
  start<mode>(settings);
  caf::scoped_actor self{sys, true};
  for (int i = 0; i < 7; ++i)
    self->send(journal, append_atom::value,
               append_to("s" + std::to_string(i), 0, "e"));
  sched.run();
  for (int i = 0; i < 7; ++i)
    BOOST_REQUIRE(reply_of<uint64_t>(self));
  BOOST_TEST(m.journal_appends.value() == 7u);
  // Batches of 3, 3 and 1.
  auto batches = m.journal_batch_size.cumulative_counts();
  BOOST_TEST(batches.back() == 3u);
  BOOST_TEST(m.journal_batch_size.sum() == 7.0);
  BOOST_TEST(batches[0] == 1u); // le=1
  BOOST_TEST(batches[1] == 1u); // le=2
  BOOST_TEST(batches[2] == 3u); // le=4
  BOOST_TEST(m.journal_commit_duration.cumulative_counts().back() == 3u);
  BOOST_TEST(m.journal_errors.value() == 0u);
  // An append that conflicts (stream s0 is at 1) is answered but not stored.
  self->send(journal, append_atom::value, append_to("s0", 0, "e"));
  sched.run();
  BOOST_REQUIRE(reply_of<uint64_t>(self));
  BOOST_TEST(m.journal_appends.value() == 7u);
  BOOST_TEST(m.journal_errors.value() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(metrics_count_each_failed_commit_attempt, mode,
                              modes) {
  journal_settings settings;
  settings.metrics = std::make_shared<metrics::node_metrics>(
      std::make_shared<metrics::registry>(), false);
  auto& m = *settings.metrics;
  start<mode>(settings);
  backend->fail_commits = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1"));
  sched.run();
  BOOST_REQUIRE(sched.trigger_timeouts() == 1u);
  sched.run();
  BOOST_TEST(m.journal_errors.value() == 2u);
  BOOST_TEST(m.journal_appends.value() == 0u);
  backend->fail_commits = false;
  BOOST_REQUIRE(sched.trigger_timeouts() == 1u);
  sched.run();
  BOOST_REQUIRE(reply_of<uint64_t>(self));
  BOOST_TEST(m.journal_errors.value() == 2u);
  BOOST_TEST(m.journal_appends.value() == 1u);
  BOOST_TEST(m.journal_commit_duration.cumulative_counts().back() == 3u);
}

// One commit per append, so the append sent behind the failed one is judged
// in a later commit than the one that failed: no memory of the failure is
// needed, its expected tag does it.
BOOST_AUTO_TEST_CASE_TEMPLATE(
    an_append_sent_behind_a_failed_one_fails_in_a_later_commit, mode, modes) {
  journal_settings settings;
  settings.max_batch = 1;
  start<mode>(settings);
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
BOOST_AUTO_TEST_CASE_TEMPLATE(
    an_append_sent_behind_a_failed_one_fails_in_the_same_commit, mode, modes) {
  start<mode>();
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

BOOST_AUTO_TEST_CASE_TEMPLATE(a_failing_commit_is_retried_until_it_lands, mode,
                              modes) {
  start<mode>();
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

BOOST_AUTO_TEST_CASE_TEMPLATE(
    a_commit_failing_for_longer_than_retry_for_fails_its_appends, mode, modes) {
  journal_settings settings;
  settings.retry_for = 1s;
  start<mode>(settings);
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
BOOST_AUTO_TEST_CASE_TEMPLATE(
    a_recovery_waits_for_a_retried_append_to_its_stream, mode, modes) {
  journal_settings settings;
  settings.retry_for = 60s;
  start<mode>(settings);
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
BOOST_AUTO_TEST_CASE_TEMPLATE(a_recovery_sees_appends_that_arrived_before_it,
                              mode, modes) {
  start<mode>();
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

// A cold cart never waits behind a commit: while the writer is busy, a
// recovery of another stream is read by a reader; one of the stream being
// committed waits for the commit's verdict, then sees it.
BOOST_AUTO_TEST_CASE(recoveries_are_read_while_a_commit_is_held) {
  start<on_workers>();
  BOOST_REQUIRE(backend->readers_opened.load() > 0);
  caf::scoped_actor writer{sys, true};
  writer->send(journal, append_atom::value, append_to("cart", 0, "e1", 5));
  run_holding_the_writer();
  caf::scoped_actor cold{sys, true};
  caf::scoped_actor same{sys, true};
  recover(cold, "other-cart");
  recover(same, "cart");
  run_holding_the_writer();
  auto other = reply_of<journal_recovery>(cold);
  BOOST_REQUIRE(other && *other);
  BOOST_TEST((*other)->events.empty());
  BOOST_TEST(backend->reads_on_readers.load() == 1);
  BOOST_TEST(backend->reads_on_writer.load() == 0);
  BOOST_TEST(!reply_of<journal_recovery>(same)); // waits for the commit
  BOOST_TEST(!reply_of<uint64_t>(writer));       // still being committed
  BOOST_TEST(backend->commits.load() == 0);
  sched.run(); // the writer commits
  auto seq = reply_of<uint64_t>(writer);
  BOOST_REQUIRE(seq && *seq);
  BOOST_TEST(**seq == 1u);
  auto got = reply_of<journal_recovery>(same);
  BOOST_REQUIRE(got && *got);
  BOOST_REQUIRE((*got)->events.size() == 1u);
  BOOST_TEST((*got)->last_tag == 5u);
  BOOST_TEST(backend->reads_on_readers.load() == 2);
}

// Recoveries spread over the readers instead of queueing behind one.
BOOST_AUTO_TEST_CASE(recoveries_go_to_the_least_busy_reader) {
  journal_settings settings;
  settings.readers = 3;
  start<on_workers>(settings);
  BOOST_REQUIRE(backend->readers_opened.load() == 3);
  caf::scoped_actor self{sys, true};
  for (int i = 0; i < 3; ++i)
    recover(self, "c" + std::to_string(i));
  // The journal hands out all three before any reader runs: each reader
  // has one (a reader with mail is a job of the scheduler).
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(sched.prioritize(journal));
    sched.run_once();
  }
  size_t busy_readers = 0;
  for (auto* job : sched.jobs) {
    auto* actor = dynamic_cast<caf::local_actor*>(job);
    if (actor != nullptr &&
        std::strcmp(actor->name(), "cartd.journal.reader") == 0)
      ++busy_readers;
  }
  BOOST_TEST(busy_readers == 3u);
  sched.run();
  for (int i = 0; i < 3; ++i) {
    auto got = reply_of<journal_recovery>(self);
    BOOST_REQUIRE(got && *got);
  }
}

// The connection died during COMMIT, after the commit went through: the
// retry finds the append stored under its tag and answers it stored, once.
BOOST_AUTO_TEST_CASE_TEMPLATE(
    an_unknown_outcome_is_retried_and_answered_stored_if_it_landed, mode,
    modes) {
  start<mode>();
  backend->unknown_outcomes = true;
  backend->store_unknown = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1", 7));
  sched.run();
  BOOST_TEST(backend->unknown_commits.load() == 1);
  BOOST_TEST(!reply_of<uint64_t>(self));
  BOOST_TEST(backend->replay("cart", 0)->size() == 1u); // it did land
  backend->unknown_outcomes = false;
  auto got = retry_until_answered<uint64_t>(self);
  BOOST_REQUIRE(got);
  BOOST_REQUIRE(*got);
  BOOST_TEST(**got == 1u);
  BOOST_TEST(backend->commits_again.load() == 1);
  BOOST_TEST(backend->replay("cart", 0)->size() == 1u); // not twice
}

// The same when the commit did not go through: the retry stores it.
BOOST_AUTO_TEST_CASE_TEMPLATE(
    an_unknown_outcome_is_retried_and_stored_if_it_did_not_land, mode, modes) {
  start<mode>();
  backend->unknown_outcomes = true;
  backend->store_unknown = false;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1", 7));
  sched.run();
  BOOST_TEST(backend->replay("cart", 0)->empty());
  backend->unknown_outcomes = false;
  auto got = retry_until_answered<uint64_t>(self);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST(**got == 1u);
  BOOST_TEST(backend->commits_again.load() == 1);
  BOOST_TEST(backend->replay("cart", 0)->size() == 1u);
}

// Once an attempt's outcome was unknown, the append may be stored: when
// retry_for runs out it is answered unknown_outcome, even if the last
// attempts were refused (unavailable), never "nothing stored".
BOOST_AUTO_TEST_CASE_TEMPLATE(
    an_unknown_outcome_that_outlasts_retry_for_is_answered_unknown, mode,
    modes) {
  journal_settings settings;
  settings.retry_for = 1s;
  start<mode>(settings);
  backend->unknown_outcomes = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("cart", 0, "e1", 7));
  sched.run();
  BOOST_REQUIRE(backend->unknown_commits.load() == 1);
  backend->fail_commits = true; // and then the store is out of reach
  auto got = retry_until_answered<uint64_t>(self);
  BOOST_REQUIRE(got);
  BOOST_REQUIRE(!*got);
  BOOST_TEST(is_unknown_outcome(got->error()));
  BOOST_TEST(backend->failed_commits.load() > 1);
  BOOST_TEST(backend->commits_again.load() == backend->failed_commits.load());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(
    health_is_unavailable_from_a_failed_commit_or_read_until_one_succeeds, mode,
    modes) {
  journal_settings settings;
  settings.health = std::make_shared<journal_health>();
  settings.retry_for = 60s;
  start<mode>(settings);
  auto available = [&] { return settings.health->available.load(); };
  BOOST_TEST(available());
  caf::scoped_actor self{sys, true};
  // A failing commit: unavailable while it is retried.
  backend->fail_commits = true;
  self->send(journal, append_atom::value, append_to("cart", 0, "e1", 1));
  sched.run();
  BOOST_TEST(!available());
  // A read that works does not make a failing writer available.
  recover(self, "other");
  sched.run();
  BOOST_REQUIRE(reply_of<journal_recovery>(self));
  BOOST_TEST(!available());
  backend->fail_commits = false;
  BOOST_REQUIRE(retry_until_answered<uint64_t>(self));
  BOOST_TEST(available());
  // A failing read: unavailable until a read or a commit works.
  backend->fail_reads = true;
  recover(self, "cart");
  sched.run();
  auto failed = reply_of<journal_recovery>(self);
  BOOST_REQUIRE(failed && !*failed);
  BOOST_TEST(is_unavailable(failed->error()));
  BOOST_TEST(!available());
  backend->fail_reads = false;
  recover(self, "cart");
  sched.run();
  BOOST_REQUIRE(reply_of<journal_recovery>(self));
  BOOST_TEST(available());
  backend->fail_reads = true;
  recover(self, "cart");
  sched.run();
  BOOST_REQUIRE(reply_of<journal_recovery>(self));
  BOOST_TEST(!available());
  backend->fail_reads = false;
  self->send(journal, append_atom::value, append_to("cart", 1, "e2", 1, 1));
  sched.run();
  BOOST_REQUIRE(reply_of<uint64_t>(self));
  BOOST_TEST(available());
  // An unknown outcome counts as a failure too.
  backend->unknown_outcomes = true;
  self->send(journal, append_atom::value, append_to("cart", 2, "e3", 1, 1));
  sched.run();
  BOOST_TEST(!available());
  backend->unknown_outcomes = false;
  BOOST_REQUIRE(retry_until_answered<uint64_t>(self));
  BOOST_TEST(available());
}

// A backend that answers a batch short broke its contract: nobody knows
// what it stored, and every append of the batch is told so.
BOOST_AUTO_TEST_CASE_TEMPLATE(a_batch_answered_short_is_an_unknown_outcome,
                              mode, modes) {
  journal_settings settings;
  settings.retry_for = caf::timespan{0};
  start<mode>(settings);
  backend->answer_short = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("a", 0, "e1"));
  self->send(journal, append_atom::value, append_to("b", 0, "e1"));
  sched.run();
  for (int i = 0; i < 2; ++i) {
    auto got = reply_of<uint64_t>(self);
    BOOST_REQUIRE(got);
    BOOST_REQUIRE(!*got);
    BOOST_TEST(is_unknown_outcome(got->error()));
  }
}

// Shutdown while a commit is being retried: the last attempt is made at
// once, and everything handed over is answered before the journal ends.
BOOST_AUTO_TEST_CASE_TEMPLATE(shutdown_commits_everything_handed_over, mode,
                              modes) {
  journal_settings settings;
  settings.retry_for = 60s;
  start<mode>(settings);
  backend->fail_commits = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("a", 0, "e1"));
  sched.run();
  BOOST_REQUIRE(backend->failed_commits.load() == 1);
  self->send(journal, append_atom::value, append_to("b", 0, "e1"));
  recover(self, "a");
  sched.run();
  BOOST_TEST(!reply_of<uint64_t>(self));
  backend->fail_commits = false;
  self->monitor(journal);
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  sched.run();
  for (int i = 0; i < 2; ++i) {
    auto seq = reply_of<uint64_t>(self);
    BOOST_REQUIRE(seq && *seq);
    BOOST_TEST(**seq == 1u);
  }
  auto got = reply_of<journal_recovery>(self);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST((*got)->events.size() == 1u);
  BOOST_TEST(reply_of<caf::down_msg>(self).has_value());
  journal = nullptr;
}

// Shutdown while the store is out of reach: one last attempt, no more
// waiting; every append is answered with the error, then the journal ends.
BOOST_AUTO_TEST_CASE_TEMPLATE(shutdown_fails_what_it_cannot_commit, mode,
                              modes) {
  journal_settings settings;
  settings.retry_for = 60s;
  start<mode>(settings);
  backend->fail_commits = true;
  caf::scoped_actor self{sys, true};
  self->send(journal, append_atom::value, append_to("a", 0, "e1"));
  sched.run();
  self->send(journal, append_atom::value, append_to("b", 0, "e1"));
  recover(self, "a");
  self->monitor(journal);
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  sched.run(); // no timer fires
  for (int i = 0; i < 2; ++i) {
    auto seq = reply_of<uint64_t>(self);
    BOOST_REQUIRE(seq);
    BOOST_REQUIRE(!*seq);
    BOOST_TEST(is_unavailable(seq->error()));
  }
  auto got = reply_of<journal_recovery>(self);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST((*got)->events.empty());
  BOOST_TEST(reply_of<caf::down_msg>(self).has_value());
  journal = nullptr;
}

// A recovery waits for every append to its stream that arrived before it,
// also for one queued behind the commit under way.
BOOST_AUTO_TEST_CASE(
    a_recovery_waits_for_every_append_to_its_stream_before_it) {
  start<on_workers>();
  caf::scoped_actor writer{sys, true};
  writer->send(journal, append_atom::value, append_to("cart", 0, "e1", 5));
  run_holding_the_writer(); // e1 is with the writer
  writer->send(journal, append_atom::value,
               append_to("cart", 1, "e2", 5, 5)); // queued behind it
  caf::scoped_actor reader{sys, true};
  recover(reader, "cart");
  run_holding_the_writer();
  BOOST_TEST(!reply_of<journal_recovery>(reader));
  sched.run();
  auto got = reply_of<journal_recovery>(reader);
  BOOST_REQUIRE(got && *got);
  BOOST_TEST((*got)->events.size() == 2u);
  BOOST_TEST(backend->commits.load() == 2);
}

BOOST_AUTO_TEST_SUITE_END()

// -- on real threads ----------------------------------------------------------

namespace {

caf::actor_system_config& init_threaded(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::cartd_runtime>();
  add_journal_error_category(cfg);
  return cfg;
}

/// Generous: only a broken journal actor makes a test wait this long.
constexpr auto patience = 10s;

/// Waits until `pred` holds, at most `patience`; returns whether it does.
template <class Predicate>
bool eventually(Predicate pred) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The journal actor over a backend that blocks: writer and readers on
// threads of their own, the commit held by the backend itself.
struct threaded_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<test::failing_journal> backend =
      std::make_shared<test::failing_journal>();
  caf::actor parent;
  journal_actor journal;

  threaded_fixture() : sys(init_threaded(cfg)) { backend->blocking = true; }

  ~threaded_fixture() {
    backend->hold_commits = false;
    if (journal)
      caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
    if (parent)
      caf::anon_send_exit(parent, caf::exit_reason::user_shutdown);
  }

  void start(journal_settings settings = {}) {
    std::promise<journal_actor> spawned;
    auto b = backend;
    parent = sys.spawn(
        [&spawned, b, settings](caf::event_based_actor* self) -> caf::behavior {
          spawned.set_value(spawn_journal(self, b, settings));
          return {[](caf::ok_atom) {}};
        });
    auto f = spawned.get_future();
    BOOST_REQUIRE(f.wait_for(patience) == std::future_status::ready);
    journal = f.get();
    BOOST_REQUIRE(journal);
  }

  caf::expected<journal_recovery> recover(const std::string& stream) {
    caf::scoped_actor self{sys};
    caf::expected<journal_recovery> result{caf::sec::request_timeout};
    self->request(journal, patience, recover_atom::value, stream, int64_t{0})
        .receive([&](journal_recovery& x) { result = std::move(x); },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(journal_actor_threaded_tests, threaded_fixture)

BOOST_AUTO_TEST_CASE(a_cold_read_is_answered_while_a_commit_is_held) {
  backend->readers = true;
  start();
  BOOST_REQUIRE(eventually([&] { return backend->readers_opened > 0; }));
  backend->hold_commits = true;
  caf::scoped_actor writer{sys};
  writer->send(journal, append_atom::value,
               journal_fixture::append_to("cart", 0, "e1", 5));
  BOOST_REQUIRE(eventually([&] { return backend->holding.load(); }));
  auto other = recover("other-cart");
  BOOST_REQUIRE(other);
  BOOST_TEST(other->events.empty());
  BOOST_TEST(backend->holding.load()); // the commit is still held
  BOOST_TEST(backend->reads_on_readers.load() == 1);
  backend->hold_commits = false;
  caf::expected<uint64_t> seq{caf::sec::request_timeout};
  writer->receive([&](uint64_t x) { seq = x; },
                  [&](caf::error& err) { seq = std::move(err); },
                  caf::after(patience) >> [] {});
  BOOST_REQUIRE(seq);
  BOOST_TEST(*seq == 1u);
  auto same = recover("cart");
  BOOST_REQUIRE(same);
  BOOST_TEST(same->events.size() == 1u);
}

// Without readers, reads run on the writer's thread, in turn with commits.
BOOST_AUTO_TEST_CASE(without_readers_reads_run_on_the_writer) {
  start();
  caf::scoped_actor writer{sys};
  auto seq = writer->request(journal, patience, append_atom::value,
                             journal_fixture::append_to("cart", 0, "e1", 5));
  caf::expected<uint64_t> got{caf::sec::request_timeout};
  seq.receive([&](uint64_t x) { got = x; },
              [&](caf::error& err) { got = std::move(err); });
  BOOST_REQUIRE(got);
  auto read = recover("cart");
  BOOST_REQUIRE(read);
  BOOST_TEST(read->events.size() == 1u);
  BOOST_TEST(backend->reads_on_writer.load() == 1);
  BOOST_TEST(backend->readers_opened.load() == 0);
}

// Shutdown while the writer is busy on its thread: the journal waits for
// the commit and answers every append handed over, then ends.
BOOST_AUTO_TEST_CASE(shutdown_answers_every_append_while_the_writer_is_busy) {
  journal_settings settings;
  settings.retry_for = 60s;
  start(settings);
  backend->hold_commits = true;
  caf::scoped_actor client{sys};
  client->monitor(journal);
  client->send(journal, append_atom::value,
               journal_fixture::append_to("a", 0, "e1"));
  BOOST_REQUIRE(eventually([&] { return backend->holding.load(); }));
  client->send(journal, append_atom::value,
               journal_fixture::append_to("b", 0, "e1"));
  client->send(journal, append_atom::value,
               journal_fixture::append_to("c", 0, "e1"));
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  // The held commit fails, with a minute of retries left: shutdown makes
  // it the last attempt.
  backend->fail_commits = true;
  backend->hold_commits = false;
  int answered = 0;
  bool down = false;
  for (int i = 0; i < 4; ++i)
    client->receive([&](uint64_t) { ++answered; },
                    [&](caf::error& err) {
                      BOOST_TEST(is_unavailable(err));
                      ++answered;
                    },
                    [&](caf::down_msg&) { down = true; },
                    caf::after(patience) >> [] {});
  BOOST_TEST(answered == 3);
  BOOST_TEST(down);
  journal = nullptr;
}

BOOST_AUTO_TEST_SUITE_END()
