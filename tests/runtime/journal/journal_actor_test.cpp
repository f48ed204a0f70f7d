// The journal actor over a real memory backend that can be made to fail
// commits, as a full or stalled disk would: group commit, retries, and the
// order of recoveries against appends.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "runtime/journal/journal.hpp"
#include "runtime/journal/journal_actor_impl.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "tests/runtime/journal/failing_journal.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

struct journal_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<test::failing_journal> backend =
    std::make_shared<test::failing_journal>();
  caf::actor parent;
  journal_actor journal;

  journal_fixture() {
    cfg.set("scheduler.max-threads", 2);
    cfg.add_message_types<caf::id_block::cartd_runtime>();
    add_journal_error_category(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  ~journal_fixture() {
    if (parent)
      caf::anon_send_exit(parent, caf::exit_reason::user_shutdown);
    journal = nullptr;
    parent = nullptr;
    sys.reset();
  }

  void start(journal_settings settings = {}) {
    // spawn_journal wants a parent (its supervisor in the node).
    auto b = backend;
    journal_actor* out = &journal;
    parent = sys->spawn([b, settings, out](caf::event_based_actor* self) {
      *out = spawn_journal(self, b, settings);
      return caf::behavior{[](caf::ok_atom) {}};
    });
    for (int i = 0; i < 1000 && !journal; ++i)
      std::this_thread::sleep_for(1ms);
    BOOST_REQUIRE(journal);
  }

  static journal_append append_to(const std::string& stream, uint64_t after,
                                  std::string payload) {
    journal_append x;
    x.stream = stream;
    x.expected_seq = after;
    x.payloads.push_back(std::move(payload));
    return x;
  }

  caf::expected<journal_recovery> recover(caf::scoped_actor& self,
                                          const std::string& stream) {
    caf::expected<journal_recovery> result{caf::sec::request_timeout};
    self->request(journal, 10s, recover_atom::value, stream, int64_t{0})
      .receive([&](journal_recovery& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(journal_actor_tests, journal_fixture)

BOOST_AUTO_TEST_CASE(concurrent_appends_share_commits_and_all_are_acknowledged) {
  start();
  constexpr int n = 200;
  std::vector<std::unique_ptr<caf::scoped_actor>> clients;
  // Stall the disk so that every append queues, then let it go.
  backend->fail_commits = true;
  caf::scoped_actor self{*sys};
  for (int i = 0; i < n; ++i)
    caf::send_as(caf::actor_cast<caf::actor>(self), journal,
                 append_atom::value,
                 append_to("s" + std::to_string(i), 0, "e"));
  backend->fail_commits = false;
  int acknowledged = 0;
  for (int i = 0; i < n; ++i)
    self->receive([&](uint64_t seq) { acknowledged += seq == 1; },
                  [&](caf::error&) {},
                  caf::after(10s) >> [] {});
  BOOST_TEST(acknowledged == n);
  BOOST_TEST(backend->commits.load() < n);
}

BOOST_AUTO_TEST_CASE(appends_sent_behind_a_failed_one_fail_across_commits) {
  // One commit per append, so the dependent append is judged in a later
  // commit than the one that failed, by the journal actor.
  journal_settings settings;
  settings.max_batch = 1;
  start(settings);
  BOOST_REQUIRE(backend->append("cart", 0, {"another writer"}));
  caf::scoped_actor self{*sys};
  auto me = caf::actor_cast<caf::actor>(self);
  // Sent ahead, as a cart pipelines: the first is stale, the second's
  // expected_seq matches only because of the other writer's event.
  caf::send_as(me, journal, append_atom::value,
               append_to("cart", 0, "first"));
  caf::send_as(me, journal, append_atom::value,
               append_to("cart", 1, "second"));
  int conflicts = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](uint64_t) {},
                  [&](caf::error& err) {
                    conflicts += err.category() == caf::atom("journal")
                                 && err.code()
                                      == static_cast<uint8_t>(
                                        journal_errc::conflict);
                  },
                  caf::after(10s) >> [] {});
  BOOST_TEST(conflicts == 2);
  // Another writer (as the cart is after it restarted and recovered)
  // appends at the stream's real end: it lands.
  caf::scoped_actor restarted{*sys};
  uint64_t seq = 0;
  restarted->request(journal, 10s, append_atom::value,
                     append_to("cart", 1, "third"))
    .receive([&](uint64_t x) { seq = x; }, [](caf::error&) {});
  BOOST_TEST(seq == 2u);
  auto events = backend->replay("cart", 0);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 2u);
  BOOST_TEST(events->back().payload == "third");
}

BOOST_AUTO_TEST_CASE(a_failing_commit_is_retried_until_it_lands) {
  start();
  backend->fail_commits = true;
  caf::scoped_actor self{*sys};
  caf::send_as(caf::actor_cast<caf::actor>(self), journal, append_atom::value,
               append_to("cart", 0, "e1"));
  for (int i = 0; i < 10000 && backend->failed_commits < 2; ++i)
    std::this_thread::sleep_for(1ms);
  BOOST_REQUIRE(backend->failed_commits >= 2);
  backend->fail_commits = false;
  uint64_t seq = 0;
  self->receive([&](uint64_t x) { seq = x; }, [&](caf::error&) {},
                caf::after(10s) >> [] {});
  BOOST_TEST(seq == 1u);
}

// A cart that gave up waiting for its write and was activated again reads
// its stream: that read must not miss the write the journal is still
// retrying, or the cart would serve a state older than its journal.
BOOST_AUTO_TEST_CASE(a_recovery_waits_for_a_retried_append_to_its_stream) {
  journal_settings settings;
  settings.retry_for = 60s;
  start(settings);
  backend->fail_commits = true;
  caf::scoped_actor writer{*sys};
  caf::send_as(caf::actor_cast<caf::actor>(writer), journal,
               append_atom::value, append_to("cart", 0, "e1"));
  for (int i = 0; i < 10000 && backend->failed_commits < 1; ++i)
    std::this_thread::sleep_for(1ms);
  BOOST_REQUIRE(backend->failed_commits >= 1);
  // Recover "cart" while its append is being retried, then another stream:
  // the journal answers the other one at once, so it handled the first
  // request before the disk came back.
  caf::scoped_actor reader{*sys};
  reader->send(journal, recover_atom::value, std::string{"cart"}, int64_t{0});
  caf::scoped_actor other{*sys};
  auto unrelated = recover(other, "other-cart");
  BOOST_REQUIRE(unrelated);
  BOOST_TEST(unrelated->events.empty());
  BOOST_TEST(backend->commits.load() == 0);
  backend->fail_commits = false;
  journal_recovery got;
  bool answered = false;
  reader->receive(
    [&](journal_recovery& x) {
      got = std::move(x);
      answered = true;
    },
    [&](caf::error&) {}, caf::after(10s) >> [] {});
  BOOST_REQUIRE(answered);
  BOOST_REQUIRE(got.events.size() == 1u);
  BOOST_TEST(got.events[0].payload == "e1");
  uint64_t seq = 0;
  writer->receive([&](uint64_t x) { seq = x; }, [&](caf::error&) {},
                  caf::after(10s) >> [] {});
  BOOST_TEST(seq == 1u);
}

// Appends queued behind the current commit are committed before a recovery
// of their stream is answered.
BOOST_AUTO_TEST_CASE(a_recovery_sees_appends_that_arrived_before_it) {
  start();
  caf::scoped_actor writer{*sys};
  caf::scoped_actor reader{*sys};
  for (int round = 0; round < 50; ++round) {
    auto stream = "cart-" + std::to_string(round);
    caf::send_as(caf::actor_cast<caf::actor>(writer), journal,
                 append_atom::value, append_to(stream, 0, "e1"));
    auto got = recover(reader, stream);
    BOOST_REQUIRE(got);
    BOOST_TEST(got->events.size() == 1u, "round " << round);
  }
  for (int round = 0; round < 50; ++round)
    writer->receive([](uint64_t) {}, [](caf::error&) {},
                    caf::after(10s) >> [] {});
}

BOOST_AUTO_TEST_SUITE_END()
