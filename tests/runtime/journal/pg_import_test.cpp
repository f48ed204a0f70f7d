// pg_import: a SQLite journal copied into a PostgreSQL schema recovers the
// same on pg_journal as on sqlite_journal (events, tags, snapshots,
// idempotency records), and an import never doubles or overwrites a stream.
// One throwaway server for the binary (tests/support/postgres_server), a
// schema per test.

#define BOOST_TEST_MODULE runtime_journal_pg_import
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/journal/postgres/pg_import.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"
#include "runtime/journal/sqlite_journal.hpp"
#include "tests/runtime/journal/make_append.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cartd;
using cartd::test::make_append;

namespace fs = std::filesystem;

namespace {

test::postgres_server& server() {
  static test::postgres_server instance;
  return instance;
}

pg_options options(const std::string& schema) {
  pg_options result;
  result.conninfo = server().conninfo();
  result.schema = schema;
  return result;
}

/// The error of a failed import, for messages ("" when it succeeded).
std::string failure_of(const caf::expected<pg_import_summary>& x) {
  return x ? std::string{} : to_string(x.error());
}

/// Checks that `stream` recovers the same from both journals.
void check_same_recovery(journal_backend& expected, journal_backend& actual,
                         const std::string& stream) {
  BOOST_TEST_CONTEXT("stream " << stream) {
    auto x = expected.recover(stream, 0);
    auto y = actual.recover(stream, 0);
    BOOST_REQUIRE(x);
    BOOST_REQUIRE(y);
    BOOST_TEST(x->snapshot_seq == y->snapshot_seq);
    BOOST_TEST(x->snapshot == y->snapshot);
    BOOST_TEST(x->last_tag == y->last_tag);
    BOOST_REQUIRE(x->events.size() == y->events.size());
    for (size_t i = 0; i < x->events.size(); ++i) {
      BOOST_TEST(x->events[i].seq == y->events[i].seq);
      BOOST_TEST(x->events[i].payload == y->events[i].payload);
    }
    BOOST_REQUIRE(x->idempotency.size() == y->idempotency.size());
    for (size_t i = 0; i < x->idempotency.size(); ++i) {
      auto& a = x->idempotency[i];
      auto& b = y->idempotency[i];
      BOOST_TEST(a.key == b.key);
      BOOST_TEST(a.request_digest == b.request_digest);
      BOOST_TEST(a.response == b.response);
      BOOST_TEST(a.seq == b.seq);
      BOOST_TEST(a.recorded_at_ms == b.recorded_at_ms);
    }
    auto xs = expected.replay(stream, 0);
    auto ys = actual.replay(stream, 0);
    BOOST_REQUIRE(xs);
    BOOST_REQUIRE(ys);
    BOOST_TEST(xs->size() == ys->size());
  }
}

/// A SQLite journal with keyed appends, snapshots, a tag above INT64_MAX
/// and payloads that need COPY's escaping.
void fill(sqlite_journal& db) {
  constexpr uint64_t big_tag = 0xc6a4a7935bd1e995;
  std::vector<journal_append> batch;
  batch.push_back(make_append("c1", 0, {"a\tb", "back\\slash"}, 0, 7));
  auto keyed = make_append("c1", 2, {"line\nbreak"}, 7, big_tag);
  keyed.idempotency_key = "key-1";
  keyed.request_digest = "add_item|1|*|x";
  keyed.response = "{\"v\":1}";
  keyed.snapshot = "state\r3";
  batch.push_back(keyed);
  batch.push_back(make_append("c2", 0, {"\\N", "ü"}, 0, 9));
  for (auto& result : db.append_batch(batch))
    BOOST_REQUIRE(result);
  // A snapshot-only stream never happens; one with events after it does.
  auto more = make_append("c1", 3, {"after"}, big_tag, big_tag);
  BOOST_REQUIRE(db.append_batch({more}).front());
}

} // namespace

BOOST_AUTO_TEST_CASE(imported_streams_recover_as_from_sqlite) {
  test::temp_dir dir;
  {
    auto db = sqlite_journal::open(dir.path());
    BOOST_REQUIRE(db);
    fill(**db);
  }
  auto summary = import_sqlite_journal(dir.path(), options("imp_same"));
  BOOST_REQUIRE_MESSAGE(summary, failure_of(summary));
  BOOST_TEST(summary->streams == 2u);
  BOOST_TEST(summary->events == 6u);
  BOOST_TEST(summary->snapshots == 1u);
  BOOST_TEST(summary->keys == 1u);
  auto sqlite = sqlite_journal::open(dir.path());
  auto pg = pg_journal::open(options("imp_same"));
  BOOST_REQUIRE(sqlite);
  BOOST_REQUIRE(pg);
  for (auto stream : {"c1", "c2"})
    check_same_recovery(**sqlite, **pg, stream);
  // The tags came along: the writer of c1's last event extends it.
  auto next = make_append("c1", 4, {"next"}, 0xc6a4a7935bd1e995, 1);
  auto stored = (*pg)->append_batch({next});
  BOOST_TEST((stored.front() && *stored.front() == 5u));
}

BOOST_AUTO_TEST_CASE(a_second_import_is_refused_and_stores_nothing) {
  test::temp_dir dir;
  {
    auto db = sqlite_journal::open(dir.path());
    BOOST_REQUIRE(db);
    fill(**db);
  }
  BOOST_REQUIRE(import_sqlite_journal(dir.path(), options("imp_twice")));
  auto events = server().query("SELECT count(*) FROM imp_twice.events");
  auto again = import_sqlite_journal(dir.path(), options("imp_twice"));
  BOOST_REQUIRE(!again);
  auto text = to_string(again.error());
  BOOST_TEST(again.error().code() ==
             static_cast<uint8_t>(journal_errc::conflict));
  BOOST_TEST(text.find("already holds 2 of the imported streams (c1, c2)") !=
                 std::string::npos,
             text);
  BOOST_TEST(server().query("SELECT count(*) FROM imp_twice.events") == events);
}

BOOST_AUTO_TEST_CASE(one_stream_already_there_refuses_the_whole_import) {
  test::temp_dir dir;
  {
    auto db = sqlite_journal::open(dir.path());
    BOOST_REQUIRE(db);
    fill(**db);
  }
  {
    auto pg = pg_journal::open(options("imp_one"));
    BOOST_REQUIRE(pg);
    BOOST_REQUIRE((*pg)->append("c2", 0, {"someone else's"}));
  }
  auto result = import_sqlite_journal(dir.path(), options("imp_one"));
  BOOST_REQUIRE(!result);
  auto text = to_string(result.error());
  BOOST_TEST(text.find("already holds 1 of the imported streams (c2)") !=
                 std::string::npos,
             text);
  BOOST_TEST(server().query("SELECT count(*) FROM imp_one.events") == "1");
}

BOOST_AUTO_TEST_CASE(version_1_and_2_fixtures_import_like_they_recover) {
  for (auto version : {"journal-v1", "journal-v2"}) {
    BOOST_TEST_CONTEXT(version) {
      test::temp_dir dir;
      // The import upgrades a v1 file in place: work on a copy.
      fs::copy_file(fs::path{CARTD_JOURNAL_FIXTURES} / version /
                        sqlite_journal::file_name,
                    fs::path{dir.path()} / sqlite_journal::file_name);
      auto schema = std::string{"imp_"} + (version[9] == '1' ? "v1" : "v2");
      auto summary = import_sqlite_journal(dir.path(), options(schema));
      BOOST_REQUIRE_MESSAGE(summary, failure_of(summary));
      BOOST_TEST(summary->streams == 3u);
      BOOST_TEST(summary->events == 8u);
      BOOST_TEST(summary->keys == 1u);
      auto sqlite = sqlite_journal::open(dir.path());
      auto pg = pg_journal::open(options(schema));
      BOOST_REQUIRE(sqlite);
      BOOST_REQUIRE(pg);
      for (auto stream : {"cart-1", "cart-2", "cart-3"})
        check_same_recovery(**sqlite, **pg, stream);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_missing_journal_is_refused_and_not_created) {
  test::temp_dir dir;
  auto result = import_sqlite_journal(dir.path() + "/nothing", options("imp0"));
  BOOST_REQUIRE(!result);
  BOOST_TEST(to_string(result.error()).find("no SQLite journal at") !=
             std::string::npos);
  BOOST_TEST(!fs::exists(dir.path() + "/nothing"));
}
