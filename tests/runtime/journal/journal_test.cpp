// The journal's one rule (journal_backend::append_batch), checked the same
// way against every backend: an append lands iff the stream's last event is
// its expected_seq and, unless that is 0, carries its expected_tag.

#include "runtime/journal/journal.hpp"

#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/message.hpp>

#include "runtime/journal/memory_journal.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"
#include "runtime/journal/sqlite_journal.hpp"
#include "tests/runtime/journal/make_append.hpp"
#include "tests/runtime/journal/shared_postgres.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cartd;

namespace {

struct memory_backend {
  memory_journal journal;

  journal_backend& get() { return journal; }
};

struct sqlite_backend {
  test::temp_dir dir{"cartd-journal-"};
  std::unique_ptr<sqlite_journal> journal;

  sqlite_backend() {
    auto opened = sqlite_journal::open(dir.path());
    if (!opened)
      BOOST_FAIL("open failed: " << caf::to_string(opened.error()));
    journal = std::move(*opened);
  }

  journal_backend& get() { return *journal; }
};

// A schema of its own on the test binary's one server.
struct postgres_backend {
  std::unique_ptr<pg_journal> journal;

  postgres_backend() {
    pg_options opts;
    opts.conninfo = test::shared_postgres().conninfo();
    opts.schema = test::fresh_schema();
    auto opened = pg_journal::open(opts);
    if (!opened)
      BOOST_FAIL("open failed: " << caf::to_string(opened.error()));
    journal = std::move(*opened);
  }

  journal_backend& get() { return *journal; }
};

using backends =
    boost::mpl::list<memory_backend, sqlite_backend, postgres_backend>;

// Tags as carts draw them: random 64-bit numbers, often above INT64_MAX.
constexpr uint64_t tag_a = 0x9e3779b97f4a7c15;
constexpr uint64_t tag_b = 0x0123456789abcdef;
constexpr uint64_t tag_c = 0xfffffffffffffffe;

journal_append append(std::string stream, uint64_t expected_seq,
                      uint64_t expected_tag, uint64_t tag,
                      std::vector<std::string> payloads) {
  return test::make_append(std::move(stream), expected_seq, std::move(payloads),
                           expected_tag, tag);
}

bool is_conflict(const caf::expected<uint64_t>& x) {
  return !x && x.error().category() == caf::atom("journal") &&
         x.error().code() == static_cast<uint8_t>(journal_errc::conflict);
}

std::vector<std::string> payloads(journal_backend& journal,
                                  const std::string& stream) {
  std::vector<std::string> result;
  auto events = journal.replay(stream, 0);
  BOOST_REQUIRE(events);
  for (auto& x : *events)
    result.push_back(x.payload);
  return result;
}

uint64_t last_tag(journal_backend& journal, const std::string& stream) {
  auto state = journal.recover(stream, 0);
  BOOST_REQUIRE(state);
  return state->last_tag;
}

using strings = std::vector<std::string>;

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

// An oracle for random tests that shares nothing with the backends: the one
// rule and what replay and recover return, over plain containers.
class journal_model {
public:
  struct stored {
    std::string payload;
    uint64_t tag;
  };

  struct stream {
    std::vector<stored> events;
    uint64_t snapshot_seq = 0;
    std::string snapshot;
    std::vector<idempotency_record> keys;
  };

  /// The stream's new last sequence number, or nothing for a conflict.
  std::optional<uint64_t> append(const journal_append& req) {
    auto& x = streams_[req.stream];
    auto& events = x.events;
    if (events.size() != req.expected_seq)
      return std::nullopt;
    if (req.expected_seq > 0 && events.back().tag != req.expected_tag)
      return std::nullopt;
    for (auto& payload : req.payloads)
      events.push_back({payload, req.tag});
    if (!req.idempotency_key.empty())
      x.keys.push_back({req.idempotency_key, req.request_digest, req.response,
                        events.size(), 0});
    if (!req.snapshot.empty()) {
      x.snapshot_seq = events.size();
      x.snapshot = req.snapshot;
    }
    return events.size();
  }

  const stream& at(const std::string& name) { return streams_[name]; }

private:
  std::map<std::string, stream> streams_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(journal_rule_tests)

BOOST_AUTO_TEST_CASE_TEMPLATE(an_append_expecting_the_last_events_tag_lands,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto got =
      journal.append_batch({append("c1", 1, tag_a, tag_b, {"b1", "b2"})})[0];
  BOOST_REQUIRE(got);
  BOOST_TEST(*got == 3u);
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1", "b1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(last_tag(journal, "c1") == tag_b);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(an_append_expecting_another_tag_is_a_conflict,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  // Another writer's event sits at the expected sequence number.
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto got =
      journal.append_batch({append("c1", 1, tag_b, tag_b, {"b1", "b2"})});
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(is_conflict(got[0]));
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(last_tag(journal, "c1") == tag_a);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(the_right_tag_on_an_earlier_event_is_a_conflict,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(
      journal.append_batch({append("c1", 0, 0, tag_a, {"a1", "a2"})})[0]);
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 1, tag_a, tag_a, {"x"})})[0]));
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 3, tag_a, tag_a, {"x"})})[0]));
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1", "a2"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(expected_seq_0_extends_only_an_empty_stream,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  // The expected tag means nothing before the first event.
  auto first = journal.append_batch({append("c1", 0, tag_c, tag_a, {"a1"})})[0];
  BOOST_REQUIRE(first);
  BOOST_TEST(*first == 1u);
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 0, 0, tag_b, {"b1"})})[0]));
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 0, tag_a, tag_a, {"a2"})})[0]));
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(an_append_without_events_checks_the_rule_only,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto same = journal.append_batch({append("c1", 1, tag_a, tag_b, {})})[0];
  BOOST_REQUIRE(same);
  BOOST_TEST(*same == 1u);
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 1, tag_b, tag_b, {})})[0]));
  BOOST_TEST(last_tag(journal, "c1") == tag_a);
}

// A writer (tag_b) sent three appends ahead, each decided on the state the
// one before makes; the first is stale because tag_a's writer extended the
// stream first. The second's expected_seq matches tag_a's event, but it
// expects tag_b there, so it cannot land on it; nor can the third.
BOOST_AUTO_TEST_CASE_TEMPLATE(appends_behind_a_failed_one_fail_in_one_batch,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto got = journal.append_batch({append("c1", 0, 0, tag_b, {"b1"}),
                                   append("c1", 1, tag_b, tag_b, {"b2"}),
                                   append("c1", 2, tag_b, tag_b, {"b3"})});
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  for (auto& x : got)
    BOOST_TEST(is_conflict(x));
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(appends_behind_a_failed_one_fail_in_later_batches,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 0, 0, tag_b, {"b1"})})[0]));
  BOOST_TEST(is_conflict(
      journal.append_batch({append("c1", 1, tag_b, tag_b, {"b2"})})[0]));
  BOOST_TEST(payloads(journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
}

// In one batch: tag_a's writer extends the stream, the stale tag_b writer's
// two appends fail, tag_a's next one (sent ahead, expecting its own tag)
// lands, and so does a fresh writer's on another stream.
BOOST_AUTO_TEST_CASE_TEMPLATE(another_writers_appends_in_the_same_batch_land,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_REQUIRE(journal.append_batch({append("c1", 0, 0, tag_c, {"c1"})})[0]);
  auto got = journal.append_batch({append("c1", 1, tag_c, tag_a, {"a1"}),
                                   append("c1", 1, tag_c, tag_b, {"b1"}),
                                   append("c1", 2, tag_b, tag_b, {"b2"}),
                                   append("c1", 2, tag_a, tag_a, {"a2"}),
                                   append("c2", 0, 0, tag_b, {"x"})});
  BOOST_REQUIRE_EQUAL(got.size(), 5u);
  BOOST_REQUIRE(got[0]);
  BOOST_TEST(*got[0] == 2u);
  BOOST_TEST(is_conflict(got[1]));
  BOOST_TEST(is_conflict(got[2]));
  BOOST_REQUIRE(got[3]);
  BOOST_TEST(*got[3] == 3u);
  BOOST_REQUIRE(got[4]);
  BOOST_TEST(*got[4] == 1u);
  BOOST_TEST(payloads(journal, "c1") == (strings{"c1", "a1", "a2"}),
             boost::test_tools::per_element());
  BOOST_TEST(last_tag(journal, "c1") == tag_a);
  BOOST_TEST(last_tag(journal, "c2") == tag_b);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(recover_names_the_last_events_tag, Backend,
                              backends) {
  Backend backend;
  auto& journal = backend.get();
  BOOST_TEST(last_tag(journal, "c1") == 0u);
  auto with_snapshot = append("c1", 0, 0, tag_a, {"a1", "a2"});
  with_snapshot.snapshot = "state-2";
  BOOST_REQUIRE(journal.append_batch({with_snapshot})[0]);
  // The snapshot covers the last event.
  auto state = journal.recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 2u);
  BOOST_TEST(state->events.empty());
  BOOST_TEST(state->last_tag == tag_a);
  BOOST_REQUIRE(
      journal.append_batch({append("c1", 2, tag_a, tag_b, {"b"})})[0]);
  state = journal.recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->events.size() == 1u);
  BOOST_TEST(state->last_tag == tag_b);
}

// Random batches from several writers, each tagging its events with its own
// tag and sending appends ahead on what it believes is the stream's last
// event (as a cart pipelines), now and then recovering the real one: every
// result, replay and recovery must agree with the model.
BOOST_AUTO_TEST_CASE_TEMPLATE(random_appends_of_several_writers_match_a_model,
                              Backend, backends) {
  Backend backend;
  auto& journal = backend.get();
  journal_model model;
  std::mt19937 rng{42};
  auto pick = [&](int n) {
    return static_cast<int>(rng() % static_cast<unsigned>(n));
  };
  const std::vector<std::string> streams{"c1", "c2", "c3", "c4"};
  struct view {
    uint64_t seq = 0;
    uint64_t tag = 0;
  };
  struct writer {
    uint64_t tag;
    std::map<std::string, view> believes;
  };
  // Tag 0 is what events stored before format v2 carry.
  std::vector<writer> writers{{0, {}}, {tag_a, {}}, {tag_b, {}}, {7, {}}};
  int counter = 0;
  int landed = 0;
  int failed_on_tag_only = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<journal_append> batch;
    auto size = 1 + pick(6);
    for (int i = 0; i < size; ++i) {
      auto& w = writers[static_cast<size_t>(pick(4))];
      journal_append req;
      req.stream = streams[static_cast<size_t>(pick(4))];
      auto& v = w.believes[req.stream];
      if (pick(4) == 0) {
        // Recovers: learns the stream's real last event.
        auto& truth = model.at(req.stream).events;
        v.seq = truth.size();
        v.tag = truth.empty() ? 0 : truth.back().tag;
      }
      req.expected_seq = v.seq;
      req.expected_tag = v.tag;
      if (pick(10) == 0)
        req.expected_seq += static_cast<uint64_t>(pick(3)); // ahead
      req.tag = w.tag;
      auto events = pick(4);
      for (int j = 0; j < events; ++j)
        req.payloads.push_back("event-" + std::to_string(++counter));
      if (events > 0 && pick(3) == 0) {
        req.idempotency_key = "key-" + std::to_string(counter);
        req.request_digest = "digest-" + std::to_string(counter);
        req.response =
            pick(2) == 0 ? "" : "response-" + std::to_string(counter);
      }
      if (pick(5) == 0)
        req.snapshot = "state-" + std::to_string(++counter);
      // Sent ahead: the writer decides its next append on this one's state.
      v.seq = req.expected_seq + req.payloads.size();
      if (!req.payloads.empty())
        v.tag = w.tag;
      batch.push_back(std::move(req));
    }
    auto got = journal.append_batch(batch);
    BOOST_REQUIRE_EQUAL(got.size(), batch.size());
    for (size_t i = 0; i < got.size(); ++i) {
      auto before = model.at(batch[i].stream).events.size();
      auto want = model.append(batch[i]);
      BOOST_TEST_CONTEXT("round " << round << ", append " << i) {
        BOOST_REQUIRE_EQUAL(static_cast<bool>(got[i]), want.has_value());
        if (want) {
          ++landed;
          BOOST_TEST(*got[i] == *want);
        } else {
          failed_on_tag_only += before == batch[i].expected_seq;
          BOOST_TEST(is_conflict(got[i]));
          BOOST_TEST(message_of(got[i].error()) ==
                     batch[i].stream + " is at " + std::to_string(before));
        }
      }
    }
  }
  // The generator reached both outcomes, and appends that only their
  // expected tag stopped.
  BOOST_TEST(landed > 100);
  BOOST_TEST(failed_on_tag_only > 20);
  for (auto& name : streams) {
    BOOST_TEST_CONTEXT("stream " << name) {
      auto& want = model.at(name);
      for (uint64_t after : {0, 3, 1000}) {
        auto got = journal.replay(name, after);
        BOOST_REQUIRE(got);
        BOOST_REQUIRE_EQUAL(got->size(),
                            want.events.size() -
                                std::min<size_t>(after, want.events.size()));
        for (size_t i = 0; i < got->size(); ++i) {
          BOOST_TEST((*got)[i].seq == after + i + 1);
          BOOST_TEST((*got)[i].payload == want.events[after + i].payload);
        }
      }
      auto got = journal.recover(name, 0);
      BOOST_REQUIRE(got);
      BOOST_TEST(got->snapshot_seq == want.snapshot_seq);
      BOOST_TEST(got->snapshot == want.snapshot);
      BOOST_REQUIRE_EQUAL(got->events.size(),
                          want.events.size() - want.snapshot_seq);
      for (size_t i = 0; i < got->events.size(); ++i) {
        BOOST_TEST(got->events[i].seq == want.snapshot_seq + i + 1);
        BOOST_TEST(got->events[i].payload ==
                   want.events[want.snapshot_seq + i].payload);
      }
      BOOST_TEST(got->last_tag ==
                 (want.events.empty() ? 0 : want.events.back().tag));
      BOOST_REQUIRE_EQUAL(got->idempotency.size(), want.keys.size());
      for (size_t i = 0; i < got->idempotency.size(); ++i) {
        auto& x = got->idempotency[i];
        auto& y = want.keys[i];
        BOOST_TEST(x.key == y.key);
        BOOST_TEST(x.request_digest == y.request_digest);
        BOOST_TEST(x.response == y.response);
        BOOST_TEST(x.seq == y.seq);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
