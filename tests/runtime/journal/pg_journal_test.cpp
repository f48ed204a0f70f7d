// PostgreSQL specifics of the journal: the schema and its version, refusals
// with clear messages, a server that crashes and comes back, an unknown
// commit outcome, readers, several writers on one schema (the rule itself
// is checked on every backend in journal_test.cpp). One server for the test
// binary (shared_postgres.hpp); each test case works in a schema of its own.

#include "runtime/journal/postgres/pg_journal.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/message.hpp>

#include <libpq-fe.h>

#include "tests/runtime/journal/make_append.hpp"
#include "tests/runtime/journal/shared_postgres.hpp"

using namespace cartd;

BOOST_TEST_DONT_PRINT_LOG_VALUE(cartd::journal_errc)

namespace {

constexpr uint64_t tag_a = 0x9e3779b97f4a7c15;
constexpr uint64_t tag_b = 0x0123456789abcdef;

using strings = std::vector<std::string>;

test::postgres_server& server() {
  return test::shared_postgres();
}

pg_options options(const std::string& schema) {
  pg_options result;
  result.conninfo = server().conninfo();
  result.schema = schema;
  return result;
}

std::unique_ptr<pg_journal> open_journal(const std::string& schema) {
  auto opened = pg_journal::open(options(schema));
  if (!opened)
    BOOST_FAIL("open failed: " << caf::to_string(opened.error()));
  return std::move(*opened);
}

journal_append append(std::string stream, uint64_t expected_seq,
                      uint64_t expected_tag, uint64_t tag, strings payloads) {
  return test::make_append(std::move(stream), expected_seq, std::move(payloads),
                           expected_tag, tag);
}

journal_errc code_of(const caf::error& err) {
  BOOST_REQUIRE(err.category() == caf::atom("journal"));
  return static_cast<journal_errc>(err.code());
}

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

strings payloads(journal_backend& journal, const std::string& stream) {
  strings result;
  auto events = journal.replay(stream, 0);
  BOOST_REQUIRE(events);
  for (auto& x : *events)
    result.push_back(x.payload);
  return result;
}

/// Starts the shared server again at the end of a test that crashed it,
/// also when the test failed halfway.
struct restart_guard {
  ~restart_guard() {
    try {
      server().start();
    } catch (const std::exception& e) {
      BOOST_TEST_MESSAGE("cannot restart the server: " << e.what());
    }
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(pg_journal_tests)

BOOST_AUTO_TEST_CASE(the_schema_is_created_with_its_tables_and_version_3) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  BOOST_TEST(journal->name() == std::string{"postgres"});
  BOOST_TEST(journal->blocks());
  BOOST_TEST(server().query("SELECT string_agg(table_name, ',' ORDER BY "
                            "table_name) FROM information_schema.tables "
                            "WHERE table_schema = '" +
                            schema + "'") ==
             "cluster_view,events,members,schema_version,snapshots");
  // The columns as docs/journal-format.md shows them: a change here is a
  // format change (a new schema_version).
  auto columns = [&](const std::string& table) {
    return server().query(
        "SELECT string_agg(column_name || ' ' || data_type || ' ' || "
        "is_nullable || coalesce(' ' || collation_name, ''), ', ' ORDER BY "
        "ordinal_position) FROM information_schema.columns WHERE "
        "table_schema = '" +
        schema + "' AND table_name = '" + table + "'");
  };
  BOOST_TEST(columns("events") ==
             "stream text NO C, seq bigint NO, payload text NO, recorded_at "
             "bigint NO, idempotency_key text YES, request_digest text YES, "
             "response text YES, tag bigint NO");
  BOOST_TEST(columns("snapshots") == "stream text NO C, seq bigint NO, state "
                                     "text NO, recorded_at bigint NO");
  BOOST_TEST(server().query("SELECT string_agg(a.attname, ',' ORDER BY "
                            "k.i) FROM pg_index x JOIN LATERAL "
                            "unnest(x.indkey) WITH ORDINALITY AS k(n, i) ON "
                            "true JOIN pg_attribute a ON a.attrelid = "
                            "x.indrelid AND a.attnum = k.n WHERE x.indrelid = "
                            "'" +
                            schema + ".events'::regclass AND x.indisprimary") ==
             "stream,seq");
  BOOST_TEST(columns("members") ==
             "name text NO C, incarnation bigint NO, http text NO, cluster "
             "text NO, status text NO, since timestamp with time zone NO, "
             "lease_expires timestamp with time zone NO, view_seen bigint NO, "
             "transport text NO");
  BOOST_TEST(columns("cluster_view") == "one_row boolean NO, number bigint NO");
  BOOST_TEST(server().query("SELECT number FROM " + schema + ".cluster_view") ==
             "0");
  BOOST_TEST(server().query("SELECT string_agg(version::text, ',') FROM " +
                            schema + ".schema_version") == "3");
  BOOST_TEST(server()
                 .query("SELECT indexdef FROM pg_indexes WHERE "
                        "schemaname = '" +
                        schema + "' AND indexname = 'events_idempotency'")
                 .find("WHERE (idempotency_key IS NOT NULL)") !=
             std::string::npos);
  // Opening it again uses it as it is: the events stay, one version row.
  BOOST_REQUIRE(journal->append("c1", 0, {"e1"}));
  journal.reset();
  journal = open_journal(schema);
  BOOST_TEST(payloads(*journal, "c1") == (strings{"e1"}),
             boost::test_tools::per_element());
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema +
                            ".schema_version") == "1");
}

BOOST_AUTO_TEST_CASE(a_newer_schema_version_is_refused) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  server().query("UPDATE " + schema + ".schema_version SET version = 4");
  auto opened = pg_journal::open(options(schema));
  BOOST_REQUIRE(!opened);
  BOOST_TEST(code_of(opened.error()) == journal_errc::unavailable);
  auto msg = message_of(opened.error());
  BOOST_TEST_INFO(msg);
  BOOST_TEST(contains(msg, "schema version 4"));
  BOOST_TEST(contains(msg, "schema=" + schema));
  BOOST_TEST(contains(msg, "port=" + std::to_string(server().port())));
}

BOOST_AUTO_TEST_CASE(a_schema_of_another_program_is_refused) {
  auto schema = test::fresh_schema();
  server().query("CREATE SCHEMA " + schema + "; CREATE TABLE " + schema +
                 ".orders (id int)");
  auto opened = pg_journal::open(options(schema));
  BOOST_REQUIRE(!opened);
  BOOST_TEST(code_of(opened.error()) == journal_errc::unavailable);
  BOOST_TEST_INFO(message_of(opened.error()));
  BOOST_TEST(contains(message_of(opened.error()), "not a cartd journal"));
  // Nothing was added to it.
  BOOST_TEST(server().query("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = '" +
                            schema + "'") == "1");
}

BOOST_AUTO_TEST_CASE(
    an_unreachable_server_is_named_in_the_refusal_without_the_password) {
  // Nothing listens on port 1.
  pg_options opts;
  opts.conninfo = "host=127.0.0.1 port=1 dbname=shop user=alice "
                  "password=s3cret-pw";
  opts.schema = "carts";
  auto opened = pg_journal::open(opts);
  BOOST_REQUIRE(!opened);
  BOOST_TEST(code_of(opened.error()) == journal_errc::unavailable);
  auto msg = message_of(opened.error());
  BOOST_TEST_INFO(msg);
  for (auto part : {"host=127.0.0.1", "port=1", "dbname=shop", "schema=carts"})
    BOOST_TEST(contains(msg, part));
  BOOST_TEST(!contains(msg, "s3cret-pw"));
  BOOST_TEST(!contains(caf::to_string(opened.error()), "s3cret-pw"));
}

BOOST_AUTO_TEST_CASE(
    a_malformed_connection_string_is_refused_without_the_password) {
  pg_options opts;
  // A bad percent-escape in the password: libpq's message quotes it.
  opts.conninfo = "postgresql://alice:s3cret%zz@127.0.0.1:1/shop";
  auto opened = pg_journal::open(opts);
  BOOST_REQUIRE(!opened);
  auto msg = message_of(opened.error());
  BOOST_TEST_INFO(msg);
  BOOST_TEST(contains(msg, "invalid connection string"));
  BOOST_TEST(!contains(msg, "s3cret"));
}

BOOST_AUTO_TEST_CASE(nodes_opening_one_new_schema_at_once_all_succeed) {
  auto schema = test::fresh_schema();
  constexpr int n = 4;
  std::atomic<int> opened{0};
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto x = pg_journal::open(options(schema));
      if (x)
        ++opened;
      else
        errors[static_cast<size_t>(i)] = caf::to_string(x.error());
    });
  for (auto& t : threads)
    t.join();
  for (auto& e : errors)
    BOOST_TEST(e.empty(), e);
  BOOST_TEST(opened == n);
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema +
                            ".schema_version") == "1");
}

BOOST_AUTO_TEST_CASE(of_two_journals_on_one_schema_one_extends_a_stream) {
  auto schema = test::fresh_schema();
  auto a = open_journal(schema);
  auto b = open_journal(schema);
  BOOST_REQUIRE(a->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto lost = b->append_batch({append("c1", 0, 0, tag_b, {"b1"})})[0];
  BOOST_REQUIRE(!lost);
  BOOST_TEST(code_of(lost.error()) == journal_errc::conflict);
  BOOST_TEST(message_of(lost.error()) == "c1 is at 1");
  // b sees a's event and can extend it.
  auto next = b->append_batch({append("c1", 1, tag_a, tag_b, {"b2"})})[0];
  BOOST_REQUIRE(next);
  BOOST_TEST(*next == 2u);
  BOOST_TEST(payloads(*a, "c1") == (strings{"a1", "b2"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
    of_two_journals_racing_on_two_threads_one_wins_each_stream) {
  auto schema = test::fresh_schema();
  auto a = open_journal(schema);
  auto b = open_journal(schema);
  constexpr int streams = 200;
  constexpr int per_batch = 50;
  std::vector<std::vector<caf::expected<uint64_t>>> results(2);
  auto run = [&](pg_journal& journal, uint64_t tag, size_t slot) {
    for (int first = 0; first < streams; first += per_batch) {
      std::vector<journal_append> batch;
      for (int i = first; i < first + per_batch; ++i)
        batch.push_back(append("s" + std::to_string(i), 0, 0, tag,
                               {"by-" + std::to_string(tag)}));
      for (auto& x : journal.append_batch(batch))
        results[slot].push_back(std::move(x));
    }
  };
  std::thread ta{run, std::ref(*a), tag_a, 0};
  std::thread tb{run, std::ref(*b), tag_b, 1};
  ta.join();
  tb.join();
  BOOST_REQUIRE_EQUAL(results[0].size(), size_t{streams});
  BOOST_REQUIRE_EQUAL(results[1].size(), size_t{streams});
  int won_by_a = 0;
  for (size_t i = 0; i < streams; ++i) {
    auto& x = results[0][i];
    auto& y = results[1][i];
    BOOST_TEST_CONTEXT("stream s" << i) {
      // Never both; a loser saw a conflict (a deadlock between the two
      // transactions would be unavailable, and then nothing is stored).
      BOOST_TEST(!(x && y));
      auto stored = payloads(*a, "s" + std::to_string(i));
      if (x || y) {
        BOOST_TEST(stored ==
                       (strings{"by-" + std::to_string(x ? tag_a : tag_b)}),
                   boost::test_tools::per_element());
        won_by_a += x ? 1 : 0;
        auto& loser = x ? y : x;
        BOOST_TEST(code_of(loser.error()) == journal_errc::conflict);
      }
    }
  }
  BOOST_TEST_MESSAGE("a won " << won_by_a << " of " << streams);
}

BOOST_AUTO_TEST_CASE(
    a_crashed_server_fails_calls_as_values_and_they_work_after_it_restarts) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  auto reader = journal->open_reader();
  BOOST_REQUIRE(reader);
  BOOST_REQUIRE(*reader != nullptr);
  BOOST_REQUIRE(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  {
    restart_guard guard;
    server().crash();
    // The connection died while idle: that is noticed before anything is
    // sent, so the append was certainly not stored (not unknown_outcome).
    auto got = journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"})});
    BOOST_REQUIRE_EQUAL(got.size(), 1u);
    BOOST_REQUIRE(!got[0]);
    BOOST_TEST(code_of(got[0].error()) == journal_errc::unavailable);
    BOOST_TEST_INFO(message_of(got[0].error()));
    BOOST_TEST(contains(message_of(got[0].error()), "schema=" + schema));
    BOOST_TEST(!journal->connected());
    auto recovered = journal->recover("c1", 0);
    BOOST_REQUIRE(!recovered);
    BOOST_TEST(code_of(recovered.error()) == journal_errc::unavailable);
    auto read = (*reader)->recover("c1", 0);
    BOOST_REQUIRE(!read);
    BOOST_TEST(code_of(read.error()) == journal_errc::unavailable);
    auto replayed = (*reader)->replay("c1", 0);
    BOOST_REQUIRE(!replayed);
    BOOST_TEST(code_of(replayed.error()) == journal_errc::unavailable);
    server().start();
  }
  // The same objects connect again.
  auto got = journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"})})[0];
  BOOST_REQUIRE(got);
  BOOST_TEST(*got == 2u);
  BOOST_TEST(journal->connected());
  auto read = (*reader)->recover("c1", 0);
  BOOST_REQUIRE(read);
  BOOST_REQUIRE_EQUAL(read->events.size(), 2u);
  BOOST_TEST(read->events[1].payload == "a2");
}

// A commit that the server made but whose answer never came back: with a
// synchronous standby that does not exist, COMMIT writes locally and then
// waits; the backend is terminated while it waits, and the connection
// closes without an answer. The journal cannot know, and says so; a retry
// with append_batch_again finds the append stored.
BOOST_AUTO_TEST_CASE(
    a_commit_whose_answer_is_lost_is_an_unknown_outcome_and_found_stored_again) {
  using namespace std::chrono_literals;
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  struct sync_rep_guard {
    sync_rep_guard() {
      server().query("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
      server().query("SELECT pg_reload_conf()");
    }
    ~sync_rep_guard() {
      server().query("ALTER SYSTEM RESET synchronous_standby_names");
      server().query("SELECT pg_reload_conf()");
    }
  };
  std::vector<journal_append> batch;
  std::vector<caf::expected<uint64_t>> got;
  {
    sync_rep_guard guard;
    // The setting reaches the server's processes asynchronously: until it
    // does, commits return normally; try again on a fresh stream.
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto stream = "c" + std::to_string(attempt);
      auto keyed = append(stream, 0, 0, tag_a, {"e1", "e2"});
      keyed.idempotency_key = "k1";
      keyed.request_digest = "d1";
      keyed.response = "r1";
      keyed.snapshot = "state-2";
      batch = {keyed, append(stream, 2, tag_a, tag_a, {"e3"})};
      std::atomic<bool> done{false};
      std::thread writer{[&] {
        got = journal->append_batch(batch);
        done = true;
      }};
      while (!done) {
        auto pid = server().query("SELECT pid FROM pg_stat_activity WHERE "
                                  "wait_event = 'SyncRep' LIMIT 1");
        if (!pid.empty()) {
          server().query("SELECT pg_terminate_backend(" + pid + ")");
          break;
        }
        std::this_thread::sleep_for(5ms);
      }
      writer.join();
      if (!got[0])
        break;
    }
  }
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_REQUIRE(!got[0]);
  BOOST_TEST_INFO(message_of(got[0].error()));
  BOOST_TEST(code_of(got[0].error()) == journal_errc::unknown_outcome);
  BOOST_TEST(code_of(got[1].error()) == journal_errc::unknown_outcome);
  // It was committed locally before the wait: sent again, both appends are
  // found stored, and nothing is stored twice.
  auto again = journal->append_batch_again(batch);
  BOOST_REQUIRE_EQUAL(again.size(), 2u);
  BOOST_REQUIRE(again[0]);
  BOOST_TEST(*again[0] == 2u);
  BOOST_REQUIRE(again[1]);
  BOOST_TEST(*again[1] == 3u);
  auto& stream = batch[0].stream;
  BOOST_TEST(payloads(*journal, stream) == (strings{"e1", "e2", "e3"}),
             boost::test_tools::per_element());
  auto state = journal->recover(stream, 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot == "state-2");
  BOOST_TEST(state->idempotency.size() == 1u);
}

BOOST_AUTO_TEST_CASE(append_batch_again_answers_stored_requests_as_stored) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  auto first = append("c1", 0, 0, tag_a, {"a1", "a2"});
  first.snapshot = "state-2";
  std::vector<journal_append> batch{first,
                                    append("c1", 2, tag_a, tag_a, {"a3"}),
                                    append("c2", 0, 0, tag_b, {"b1"})};
  auto got = journal->append_batch(batch);
  BOOST_REQUIRE(got[0] && got[1] && got[2]);
  // The same batch again: stored, not a conflict, and nothing doubled.
  auto again = journal->append_batch_again(batch);
  BOOST_REQUIRE_EQUAL(again.size(), 3u);
  BOOST_REQUIRE(again[0] && again[1] && again[2]);
  BOOST_TEST(*again[0] == 2u);
  BOOST_TEST(*again[1] == 3u);
  BOOST_TEST(*again[2] == 1u);
  BOOST_TEST(payloads(*journal, "c1") == (strings{"a1", "a2", "a3"}),
             boost::test_tools::per_element());
  // A first attempt is a conflict as always.
  BOOST_TEST(code_of(journal->append_batch(batch)[0].error()) ==
             journal_errc::conflict);
  // Stored only if the event after expected_seq carries the request's tag
  // (and that tag is not 0).
  auto other_writer =
      journal->append_batch_again({append("c1", 0, 0, tag_b, {"a1", "a2"})})[0];
  BOOST_REQUIRE(!other_writer);
  BOOST_TEST(code_of(other_writer.error()) == journal_errc::conflict);
  BOOST_REQUIRE(journal->append("c3", 0, {"x"}));
  auto untagged =
      journal->append_batch_again({append("c3", 0, 0, 0, {"x"})})[0];
  BOOST_REQUIRE(!untagged);
  BOOST_TEST(code_of(untagged.error()) == journal_errc::conflict);
  // Not yet stored: appended as append_batch would.
  auto fresh =
      journal->append_batch_again({append("c1", 3, tag_a, tag_a, {"a4"})})[0];
  BOOST_REQUIRE(fresh);
  BOOST_TEST(*fresh == 4u);
}

BOOST_AUTO_TEST_CASE(
    a_reader_sees_the_writers_commits_on_a_connection_of_its_own) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  auto reader = journal->open_reader();
  BOOST_REQUIRE(reader);
  BOOST_REQUIRE(*reader != nullptr);
  BOOST_TEST((*reader)->name() == std::string{"postgres"});
  BOOST_TEST(server().query("SELECT count(*) FROM pg_stat_activity WHERE "
                            "application_name = 'cartd'") >= "2");
  auto empty = (*reader)->recover("c1", 0);
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->events.empty());
  BOOST_REQUIRE(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  auto state = (*reader)->recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_REQUIRE_EQUAL(state->events.size(), 1u);
  BOOST_TEST(state->last_tag == tag_a);
  BOOST_TEST(payloads(**reader, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
    recover_returns_the_snapshot_the_later_events_and_keys_since_a_time) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  auto first = append("c1", 0, 0, tag_a, {"e1", "e2"});
  first.idempotency_key = "k1";
  first.request_digest = "d1";
  first.response = "r1";
  first.snapshot = "state-2";
  auto second = append("c1", 2, tag_a, tag_a, {"e3"});
  second.idempotency_key = "k2";
  second.request_digest = "d2";
  auto before = journal_now_ms();
  auto got = journal->append_batch({first, second});
  BOOST_REQUIRE(got[0] && got[1]);
  auto state = journal->recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 2u);
  BOOST_TEST(state->snapshot == "state-2");
  BOOST_REQUIRE_EQUAL(state->events.size(), 1u);
  BOOST_TEST(state->events[0].seq == 3u);
  BOOST_TEST(state->events[0].payload == "e3");
  BOOST_REQUIRE_EQUAL(state->idempotency.size(), 2u);
  auto& k1 = state->idempotency[0];
  BOOST_TEST(k1.key == "k1");
  BOOST_TEST(k1.request_digest == "d1");
  BOOST_TEST(k1.response == "r1");
  BOOST_TEST(k1.seq == 2u);
  BOOST_TEST(k1.recorded_at_ms >= before);
  BOOST_TEST(state->idempotency[1].response.empty());
  // The record sits on the append's last event only.
  BOOST_TEST(server().query("SELECT string_agg(seq::text, ',' ORDER BY seq) "
                            "FROM " +
                            schema +
                            ".events WHERE idempotency_key IS NOT "
                            "NULL") == "2,3");
  auto later = journal->recover("c1", journal_now_ms() + 60'000);
  BOOST_REQUIRE(later);
  BOOST_TEST(later->idempotency.empty());
  // A keyed append without events has no row to keep its record.
  auto keyed_empty = append("c1", 3, tag_a, tag_a, {});
  keyed_empty.idempotency_key = "k3";
  auto refused = journal->append_batch({keyed_empty})[0];
  BOOST_REQUIRE(!refused);
  BOOST_TEST(code_of(refused.error()) == journal_errc::unavailable);
}

BOOST_AUTO_TEST_CASE(
    payloads_and_names_with_quotes_braces_and_unicode_read_back_exactly) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  strings odd{"say \"hi\"", "back\\slash", "{a,b}", "NULL",
              "",           "  spaces  ",  "ünï €", "new\nline"};
  std::string stream = "cart,\"1\" {x}";
  auto req = append(stream, 0, 0, tag_a, odd);
  req.idempotency_key = "key \"q\" \\";
  req.request_digest = "NULL";
  req.response = "{\"v\":1}";
  req.snapshot = "{\"lines\":{}}";
  auto got = journal->append_batch({req})[0];
  BOOST_REQUIRE(got);
  BOOST_TEST(*got == odd.size());
  BOOST_TEST(payloads(*journal, stream) == odd,
             boost::test_tools::per_element());
  auto state = journal->recover(stream, 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot == req.snapshot);
  BOOST_REQUIRE_EQUAL(state->idempotency.size(), 1u);
  BOOST_TEST(state->idempotency[0].key == req.idempotency_key);
  BOOST_TEST(state->idempotency[0].request_digest == "NULL");
  BOOST_TEST(state->idempotency[0].response == req.response);
}

// The second round of the batch (c1's second append) fails at the server:
// text must be valid UTF-8. The first round's rows go with it, and the
// connection is fine for the next batch.
BOOST_AUTO_TEST_CASE(a_statement_the_server_refuses_fails_the_whole_batch) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  auto got = journal->append_batch({append("c1", 0, 0, tag_a, {"a1"}),
                                    append("c2", 0, 0, tag_a, {"b1"}),
                                    append("c1", 1, tag_a, tag_a, {"\xff"})});
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  for (auto& x : got) {
    BOOST_REQUIRE(!x);
    BOOST_TEST(code_of(x.error()) == journal_errc::unavailable);
  }
  BOOST_TEST_INFO(message_of(got[0].error()));
  BOOST_TEST(contains(message_of(got[0].error()), "UTF8"));
  BOOST_TEST(payloads(*journal, "c1").empty());
  BOOST_TEST(payloads(*journal, "c2").empty());
  BOOST_TEST(journal->connected());
  auto next = journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0];
  BOOST_REQUIRE(next);
  BOOST_TEST(*next == 1u);
}

BOOST_AUTO_TEST_CASE(a_gap_in_a_stream_is_reported_as_corrupt) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  BOOST_REQUIRE(journal->append("c1", 0, {"e1", "e2", "e3"}));
  server().query("DELETE FROM " + schema +
                 ".events WHERE stream = 'c1' AND seq = 2");
  auto state = journal->recover("c1", 0);
  BOOST_REQUIRE(!state);
  BOOST_TEST(code_of(state.error()) == journal_errc::corrupt);
  auto events = journal->replay("c1", 0);
  BOOST_REQUIRE(!events);
  BOOST_TEST(code_of(events.error()) == journal_errc::corrupt);
}

// -- schema version 2: the upgrade and the fence ------------------------------

BOOST_AUTO_TEST_CASE(
    a_version_1_schema_is_upgraded_in_place_keeping_its_events) {
  auto schema = test::fresh_schema();
  // Version 1 exactly as cartd 1 created it (docs/journal-format.md).
  server().query(
      "CREATE SCHEMA " + schema + "; CREATE TABLE " + schema +
      ".events (stream text COLLATE \"C\" NOT NULL, seq bigint NOT NULL, "
      "payload text NOT NULL, recorded_at bigint NOT NULL, idempotency_key "
      "text, request_digest text, response text, tag bigint NOT NULL DEFAULT "
      "0, PRIMARY KEY (stream, seq)); CREATE INDEX events_idempotency ON " +
      schema +
      ".events (stream, recorded_at) WHERE idempotency_key IS NOT NULL; "
      "CREATE TABLE " +
      schema +
      ".snapshots (stream text COLLATE \"C\" PRIMARY KEY, seq bigint NOT "
      "NULL, state text NOT NULL, recorded_at bigint NOT NULL); CREATE TABLE " +
      schema + ".schema_version (version integer NOT NULL); INSERT INTO " +
      schema + ".schema_version VALUES (1); INSERT INTO " + schema +
      ".events (stream, seq, payload, recorded_at) VALUES ('c1', 1, 'e1', 0)");
  auto journal = open_journal(schema);
  BOOST_TEST(server().query("SELECT string_agg(version::text, ',') FROM " +
                            schema + ".schema_version") == "3");
  BOOST_TEST(server().query("SELECT string_agg(table_name, ',' ORDER BY "
                            "table_name) FROM information_schema.tables "
                            "WHERE table_schema = '" +
                            schema + "'") ==
             "cluster_view,events,members,schema_version,snapshots");
  BOOST_TEST(payloads(*journal, "c1") == (strings{"e1"}),
             boost::test_tools::per_element());
  // Opening it again finds version 3 and changes nothing.
  journal.reset();
  journal = open_journal(schema);
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema +
                            ".cluster_view") == "1");
}

BOOST_AUTO_TEST_CASE(a_version_2_schema_gets_the_members_transport_in_place) {
  auto schema = test::fresh_schema();
  // Version 2 as cartd created it before the transport (a member row of a
  // running plain-TCP cluster in it).
  open_journal(schema);
  server().query("ALTER TABLE " + schema + ".members DROP COLUMN transport; " +
                 "UPDATE " + schema + ".schema_version SET version = 2; " +
                 "INSERT INTO " + schema +
                 ".members VALUES ('a', 1, 'h:1', 'h:2', 'up', now(), now() + "
                 "interval '1 minute', 0)");
  auto journal = open_journal(schema);
  BOOST_TEST(server().query("SELECT string_agg(version::text, ',') FROM " +
                            schema + ".schema_version") == "3");
  BOOST_TEST(server().query("SELECT name || ' ' || transport FROM " + schema +
                            ".members") == "a plain");
}

namespace {

/// A libpq connection of the test's own, to hold locks and transactions
/// open while the journal works.
class raw_connection {
public:
  raw_connection() : conn_(PQconnectdb(server().conninfo().c_str())) {
    BOOST_REQUIRE(PQstatus(conn_) == CONNECTION_OK);
  }

  ~raw_connection() { PQfinish(conn_); }

  /// Runs `sql`, failing the test on an error; returns the first value.
  std::string exec(const std::string& sql) {
    auto* res = PQexec(conn_, sql.c_str());
    auto status = PQresultStatus(res);
    std::string result;
    if (status == PGRES_TUPLES_OK && PQntuples(res) > 0)
      result = PQgetvalue(res, 0, 0);
    std::string err = PQresultErrorMessage(res);
    PQclear(res);
    BOOST_REQUIRE_MESSAGE(status == PGRES_COMMAND_OK ||
                              status == PGRES_TUPLES_OK,
                          sql << ": " << err);
    return result;
  }

  /// Sends `sql` without waiting for its answer.
  void send(const std::string& sql) {
    BOOST_REQUIRE(PQsendQuery(conn_, sql.c_str()));
  }

  /// Whether the answer to what send() sent arrived.
  bool answered() {
    BOOST_REQUIRE(PQconsumeInput(conn_));
    return !PQisBusy(conn_);
  }

  /// The answer to what send() sent: the number of rows it changed.
  std::string finish() {
    std::string result;
    while (auto* res = PQgetResult(conn_)) {
      BOOST_TEST(PQresultStatus(res) == PGRES_COMMAND_OK,
                 PQresultErrorMessage(res));
      result = PQcmdTuples(res);
      PQclear(res);
    }
    return result;
  }

  int pid() const { return PQbackendPID(conn_); }

private:
  PGconn* conn_;
};

/// Waits (up to 30 s) until the backend `pid` waits for a lock.
bool waits_for_a_lock(const std::string& pid_condition) {
  for (int i = 0; i < 3000; ++i) {
    if (server().query("SELECT count(*) FROM pg_stat_activity WHERE " +
                       pid_condition + " AND wait_event_type = 'Lock'") != "0")
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return false;
}

std::shared_ptr<journal_fence> make_fence(std::string member,
                                          uint64_t incarnation) {
  auto result = std::make_shared<journal_fence>();
  result->member = std::move(member);
  result->incarnation = incarnation;
  return result;
}

std::unique_ptr<pg_journal> open_fenced(const std::string& schema,
                                        std::shared_ptr<journal_fence> fence) {
  auto opts = options(schema);
  opts.fence = std::move(fence);
  auto opened = pg_journal::open(opts);
  if (!opened)
    BOOST_FAIL("open failed: " << caf::to_string(opened.error()));
  return std::move(*opened);
}

/// Inserts the member row (name, incarnation) with a lease of an hour.
void add_member(const std::string& schema, const std::string& name,
                uint64_t incarnation) {
  server().query("INSERT INTO " + schema + ".members VALUES ('" + name + "', " +
                 std::to_string(incarnation) +
                 ", 'h:1', 'h:2', 'up', now(), now() + interval '1 hour', 0)");
}

void check_fenced(const std::vector<caf::expected<uint64_t>>& got, size_t n) {
  BOOST_REQUIRE_EQUAL(got.size(), n);
  for (auto& x : got) {
    BOOST_REQUIRE(!x);
    BOOST_TEST(code_of(x.error()) == journal_errc::fenced);
    BOOST_TEST_INFO(message_of(x.error()));
    BOOST_TEST(contains(message_of(x.error()), "no longer a member"));
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(an_append_after_the_member_row_is_deleted_is_fenced) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  add_member(schema, "n1", 5);
  auto fence = make_fence("n1", 5);
  auto journal = open_fenced(schema, fence);
  BOOST_REQUIRE(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  server().query("DELETE FROM " + schema + ".members WHERE name = 'n1'");
  check_fenced(journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"}),
                                      append("c2", 0, 0, tag_a, {"b1"})}),
               2);
  // Nothing of the batch was stored.
  BOOST_TEST(payloads(*journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(payloads(*journal, "c2").empty());
  BOOST_TEST(journal->connected());
}

BOOST_AUTO_TEST_CASE(a_fenced_retry_of_an_unknown_outcome_stays_unknown) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  auto fence = make_fence("n1", 5);
  auto journal = open_fenced(schema, fence);
  // No member row: the retry cannot learn whether the first attempt stored.
  auto got = journal->append_batch_again({append("c1", 0, 0, tag_a, {"a1"})});
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_REQUIRE(!got[0]);
  BOOST_TEST(code_of(got[0].error()) == journal_errc::unknown_outcome);
  fence->incarnation = 0;
  got = journal->append_batch_again({append("c1", 0, 0, tag_a, {"a1"})});
  BOOST_REQUIRE(!got[0]);
  BOOST_TEST(code_of(got[0].error()) == journal_errc::unknown_outcome);
}

BOOST_AUTO_TEST_CASE(
    an_append_under_another_incarnation_or_a_lapsed_lease_is_fenced) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  add_member(schema, "n1", 5);
  auto fence = make_fence("n1", 4);
  auto journal = open_fenced(schema, fence);
  check_fenced(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})}), 1);
  fence->incarnation = 5;
  BOOST_REQUIRE(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  // The row is still there, but its lease lapsed by the database's clock.
  server().query("UPDATE " + schema +
                 ".members SET lease_expires = now() - interval '1 second'");
  check_fenced(journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"})}),
               1);
  BOOST_TEST(payloads(*journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(incarnation_0_is_fenced_without_asking_the_database) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  add_member(schema, "n1", 5);
  auto fence = make_fence("n1", 5);
  auto journal = open_fenced(schema, fence);
  BOOST_REQUIRE(journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})})[0]);
  fence->incarnation = 0;
  // With the server down, anything sent would fail as unavailable.
  restart_guard guard;
  server().crash();
  check_fenced(journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"})}),
               1);
}

// The fence's point: a survivor's DELETE of a member waits for every append
// of that member still in flight. Here the append is held inside its
// transaction (after its fence statement) by a row another connection
// inserted and has not committed yet: the append waits on that key.
BOOST_AUTO_TEST_CASE(a_delete_of_the_member_waits_for_its_append_in_flight) {
  auto schema = test::fresh_schema();
  open_journal(schema);
  add_member(schema, "n1", 5);
  auto journal = open_fenced(schema, make_fence("n1", 5));
  raw_connection blocker;
  blocker.exec("BEGIN");
  blocker.exec("INSERT INTO " + schema +
               ".events (stream, seq, payload, recorded_at) VALUES ('c1', 1, "
               "'other', 0)");
  std::vector<caf::expected<uint64_t>> got;
  std::thread writer{[&] {
    got = journal->append_batch({append("c1", 0, 0, tag_a, {"a1"})});
  }};
  // The append passed its fence and waits for the blocker's key.
  BOOST_REQUIRE(waits_for_a_lock("application_name = 'cartd'"));
  raw_connection survivor;
  survivor.send("DELETE FROM " + schema +
                ".members WHERE name = 'n1' AND incarnation = 5");
  BOOST_REQUIRE(waits_for_a_lock("pid = " + std::to_string(survivor.pid())));
  BOOST_TEST(!survivor.answered());
  // The blocker gives up its row: the append commits, then the DELETE.
  blocker.exec("ROLLBACK");
  writer.join();
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(static_cast<bool>(got[0]));
  BOOST_TEST(survivor.finish() == "1");
  BOOST_TEST(payloads(*journal, "c1") == (strings{"a1"}),
             boost::test_tools::per_element());
  // From now on the member appends nothing.
  check_fenced(journal->append_batch({append("c1", 1, tag_a, tag_a, {"a2"})}),
               1);
}

BOOST_AUTO_TEST_CASE(an_unfenced_journal_appends_with_no_member_rows) {
  auto schema = test::fresh_schema();
  auto journal = open_journal(schema);
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema + ".members") ==
             "0");
  auto got = journal->append_batch({append("c1", 0, 0, tag_a, {"a1"}),
                                    append("c1", 1, tag_a, tag_a, {"a2"})});
  BOOST_REQUIRE(got[0]);
  BOOST_REQUIRE(got[1]);
  BOOST_TEST(*got[1] == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
