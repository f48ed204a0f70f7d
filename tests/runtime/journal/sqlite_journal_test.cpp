#include "runtime/journal/sqlite_journal.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/message.hpp>
#include <sqlite3.h>

#include "runtime/journal/memory_journal.hpp"
#include "tests/runtime/journal/make_append.hpp"

using namespace cartd;
using namespace std::literals;

namespace fs = std::filesystem;

namespace {

// -- helpers ------------------------------------------------------------------

bool has_code(const caf::error& err, journal_errc code) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(code);
}

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

/// The sequence number of a successful append, 0 for a failed one.
uint64_t seq_of(const caf::expected<uint64_t>& x) {
  return x ? *x : 0;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A fresh directory per test, removed afterwards.
struct temp_dir {
  temp_dir() {
    auto pattern = (fs::temp_directory_path() / "cartd-sqlite-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + pattern);
    path = pattern;
  }

  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }

  /// The journal directory of most tests.
  std::string dir() const { return (path / "journal").string(); }

  std::string db_file() const {
    return (path / "journal" / sqlite_journal::file_name).string();
  }

  fs::path path;
};

std::unique_ptr<sqlite_journal> open_journal(const std::string& dir,
                                             sqlite_options opts = {}) {
  auto result = sqlite_journal::open(dir, std::move(opts));
  if (!result)
    BOOST_FAIL("open failed: " << caf::to_string(result.error()));
  return std::move(*result);
}

/// A connection of our own, to look at (or tamper with) the file directly.
class raw_db {
public:
  explicit raw_db(const std::string& file) {
    auto rc =
        sqlite3_open_v2(file.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sqlite3_errmsg(db_));
  }

  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  ~raw_db() { sqlite3_close_v2(db_); }

  void exec(const std::string& sql) {
    char* msg = nullptr;
    auto rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
    std::string text = msg != nullptr ? msg : "";
    sqlite3_free(msg);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << text);
  }

  /// Runs `sql` and returns its rows, each column as text ("NULL" for NULL),
  /// columns separated by '|'.
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    auto rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << sqlite3_errmsg(db_));
    std::vector<std::string> result;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0)
          row += '|';
        auto text = sqlite3_column_text(stmt, i);
        row += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
      result.push_back(std::move(row));
    }
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_DONE, sql << ": " << msg);
    return result;
  }

  std::string value(const std::string& sql) {
    auto result = rows(sql);
    BOOST_REQUIRE_EQUAL(result.size(), 1u);
    return result.front();
  }

private:
  sqlite3* db_ = nullptr;
};

using test::make_append;

std::vector<std::string> payloads_of(const std::vector<journal_event>& xs) {
  std::vector<std::string> result;
  for (auto& x : xs)
    result.push_back(x.payload);
  return result;
}

std::vector<uint64_t> seqs_of(const std::vector<journal_event>& xs) {
  std::vector<uint64_t> result;
  for (auto& x : xs)
    result.push_back(x.seq);
  return result;
}

using strings = std::vector<std::string>;
using seqs = std::vector<uint64_t>;

// The v1 schema as sqlite_master shows it (type, name, sql; ordered by name).
// Changing it means a new format version: see docs/journal-format.md.
const std::vector<std::string> schema_v1 = {
    "table|events|CREATE TABLE events (\n"
    "  stream TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  payload TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL,\n"
    "  idempotency_key TEXT,\n"
    "  request_digest TEXT,\n"
    "  response TEXT,\n"
    "  PRIMARY KEY (stream, seq)\n"
    ") WITHOUT ROWID",
    "index|events_idempotency|CREATE INDEX events_idempotency ON events "
    "(stream, recorded_at)\n"
    "  WHERE idempotency_key IS NOT NULL",
    "table|snapshots|CREATE TABLE snapshots (\n"
    "  stream TEXT PRIMARY KEY,\n"
    "  seq INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL\n"
    ")",
    "index|sqlite_autoindex_snapshots_1|NULL",
};

// The v2 schema: v1's with the tag column where `ALTER TABLE ... ADD COLUMN`
// puts it, whether the database was created as v2 or upgraded from v1.
const std::vector<std::string> schema_v2 = {
    "table|events|CREATE TABLE events (\n"
    "  stream TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  payload TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL,\n"
    "  idempotency_key TEXT,\n"
    "  request_digest TEXT,\n"
    "  response TEXT, tag INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (stream, seq)\n"
    ") WITHOUT ROWID",
    "index|events_idempotency|CREATE INDEX events_idempotency ON events "
    "(stream, recorded_at)\n"
    "  WHERE idempotency_key IS NOT NULL",
    "table|snapshots|CREATE TABLE snapshots (\n"
    "  stream TEXT PRIMARY KEY,\n"
    "  seq INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL\n"
    ")",
    "index|sqlite_autoindex_snapshots_1|NULL",
};

const char* schema_query =
    "SELECT type, name, sql FROM sqlite_master ORDER BY name";

// -- the v1 fixture (fixtures/journal-v1, see fixtures/README.md) -------------

struct fixture_cart {
  const char* stream;
  std::vector<std::string> events;
};

const std::vector<fixture_cart> fixture_carts = {
    {"cart-1",
     {R"({"v":1,"type":"item_added","item":"apple","quantity":2})",
      R"({"v":1,"type":"item_added","item":"pear","quantity":1})",
      R"({"v":1,"type":"item_removed","item":"pear"})",
      R"({"v":1,"type":"item_quantity_set","item":"apple","quantity":5})"}},
    {"cart-2",
     {R"({"v":1,"type":"item_added","item":"banana","quantity":3})",
      R"({"v":1,"type":"cart_checked_out"})"}},
    {"cart-3",
     {R"({"v":1,"type":"item_added","item":"cherry","quantity":1})",
      R"({"v":1,"type":"cart_cleared"})"}},
};

// cart-1's snapshot after its third event.
const char* fixture_snapshot =
    R"({"v":1,"lines":{"apple":2},"checked_out":false,"version":3})";

// cart-1's fourth event came from a request with an Idempotency-Key.
const char* fixture_key = "0b6f3c1e-5d7a-4f1e-9c52-2a8e7d4b9f10";
const char* fixture_digest = "set_item_quantity|5|3|apple";
const char* fixture_response =
    R"({"v":1,"lines":{"apple":5},"checked_out":false,"version":4})";

// When the generator committed the keyed append (Unix ms); fixed in the file.
constexpr int64_t fixture_key_recorded_at = 1795319500921;

// -- the v2 fixture (fixtures/journal-v2): the same carts, tagged ------------

// Two incarnations of cart-1 wrote its events 1-2 and 3-4; tag_2 is above
// INT64_MAX, so SQLite stores it as a negative integer.
constexpr uint64_t fixture_tag_1 = 0x5bd1e9955bd1e995;
constexpr uint64_t fixture_tag_2 = 0xc6a4a7935bd1e995;
constexpr uint64_t fixture_tag_3 = 0x27d4eb2f165667c5;
constexpr uint64_t fixture_tag_4 = 0x9e3779b97f4a7c15;

// cart-2's snapshot covers its last event.
const char* fixture_v2_snapshot_2 =
    R"({"v":1,"lines":{"banana":3},"checked_out":true,"version":2})";

// When the v2 generator committed the keyed append (Unix ms).
constexpr int64_t fixture_v2_key_recorded_at = 1795790055546;

std::string sql_int(uint64_t tag) {
  return std::to_string(static_cast<int64_t>(tag));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(sqlite_journal_tests, temp_dir)

// -- the journal_backend contract (as memory_journal) -------------------------

BOOST_AUTO_TEST_CASE(an_unknown_stream_replays_and_recovers_as_empty) {
  auto journal = open_journal(dir());
  auto events = journal->replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_TEST(events->empty());
  auto state = journal->recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 0u);
  BOOST_TEST(state->snapshot.empty());
  BOOST_TEST(state->events.empty());
  BOOST_TEST(state->idempotency.empty());
}

BOOST_AUTO_TEST_CASE(the_backend_is_called_sqlite) {
  auto journal = open_journal(dir());
  BOOST_TEST(journal->name() == "sqlite"s);
  BOOST_TEST(journal->path() == db_file());
}

BOOST_AUTO_TEST_CASE(appends_get_consecutive_sequence_numbers) {
  auto journal = open_journal(dir());
  auto first = journal->append("c1", 0, {"a", "b"});
  BOOST_REQUIRE(first);
  BOOST_TEST(*first == 2u);
  auto second = journal->append("c1", 2, {"c"});
  BOOST_REQUIRE(second);
  BOOST_TEST(*second == 3u);
  auto events = journal->replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_TEST(seqs_of(*events) == (seqs{1, 2, 3}),
             boost::test_tools::per_element());
  BOOST_TEST(payloads_of(*events) == (strings{"a", "b", "c"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(replay_starts_after_the_given_sequence_number) {
  auto journal = open_journal(dir());
  BOOST_REQUIRE(journal->append("c1", 0, {"a", "b", "c"}));
  auto events = journal->replay("c1", 2);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 1u);
  BOOST_TEST(events->front().seq == 3u);
  BOOST_TEST(events->front().payload == "c");
  auto none = journal->replay("c1", 3);
  BOOST_REQUIRE(none);
  BOOST_TEST(none->empty());
}

BOOST_AUTO_TEST_CASE(of_two_appends_extending_one_sequence_number_one_wins) {
  auto journal = open_journal(dir());
  BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  auto winner = journal->append("c1", 1, {"from-writer-1"});
  auto loser = journal->append("c1", 1, {"from-writer-2"});
  BOOST_REQUIRE(winner);
  BOOST_TEST(*winner == 2u);
  BOOST_REQUIRE(!loser);
  BOOST_TEST(has_code(loser.error(), journal_errc::conflict));
  BOOST_TEST(message_of(loser.error()) == "c1 is at 2");
  auto events = journal->replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_TEST(payloads_of(*events) == (strings{"a", "from-writer-1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_append_ahead_of_the_stream_is_a_conflict) {
  auto journal = open_journal(dir());
  auto result = journal->append("c1", 5, {"a"});
  BOOST_REQUIRE(!result);
  BOOST_TEST(has_code(result.error(), journal_errc::conflict));
  auto events = journal->replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_TEST(events->empty());
}

BOOST_AUTO_TEST_CASE(streams_are_independent) {
  auto journal = open_journal(dir());
  BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  BOOST_REQUIRE(journal->append("c2", 0, {"x", "y"}));
  BOOST_TEST(journal->replay("c1", 0)->size() == 1u);
  BOOST_TEST(journal->replay("c2", 0)->size() == 2u);
  // A stream name is matched exactly, not as a prefix.
  BOOST_TEST(journal->replay("c", 0)->empty());
}

BOOST_AUTO_TEST_CASE(a_batch_applies_two_appends_to_one_stream_in_order) {
  auto journal = open_journal(dir());
  auto results = journal->append_batch({make_append("c1", 0, {"a", "b"}),
                                        make_append("c2", 0, {"x"}),
                                        make_append("c1", 2, {"c"})});
  BOOST_REQUIRE_EQUAL(results.size(), 3u);
  BOOST_REQUIRE(results[0] && results[1] && results[2]);
  BOOST_TEST(*results[0] == 2u);
  BOOST_TEST(*results[1] == 1u);
  BOOST_TEST(*results[2] == 3u);
  BOOST_TEST(payloads_of(*journal->replay("c1", 0)) == (strings{"a", "b", "c"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_conflict_in_a_batch_skips_only_that_append) {
  auto journal = open_journal(dir());
  BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  auto results = journal->append_batch(
      {make_append("c2", 0, {"x"}), make_append("c1", 0, {"stale"}),
       make_append("c1", 1, {"b"}), make_append("c3", 7, {"ahead"})});
  BOOST_REQUIRE_EQUAL(results.size(), 4u);
  BOOST_REQUIRE(results[0]);
  BOOST_TEST(*results[0] == 1u);
  BOOST_REQUIRE(!results[1]);
  BOOST_TEST(has_code(results[1].error(), journal_errc::conflict));
  BOOST_REQUIRE(results[2]);
  BOOST_TEST(*results[2] == 2u);
  BOOST_REQUIRE(!results[3]);
  BOOST_TEST(has_code(results[3].error(), journal_errc::conflict));
  BOOST_TEST(payloads_of(*journal->replay("c1", 0)) == (strings{"a", "b"}),
             boost::test_tools::per_element());
  BOOST_TEST(payloads_of(*journal->replay("c2", 0)) == (strings{"x"}),
             boost::test_tools::per_element());
  BOOST_TEST(journal->replay("c3", 0)->empty());
}

BOOST_AUTO_TEST_CASE(an_empty_batch_has_no_results) {
  auto journal = open_journal(dir());
  BOOST_TEST(journal->append_batch({}).empty());
}

BOOST_AUTO_TEST_CASE(an_append_without_events_only_checks_the_sequence_number) {
  auto journal = open_journal(dir());
  BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  auto same = journal->append("c1", 1, {});
  BOOST_REQUIRE(same);
  BOOST_TEST(*same == 1u);
  auto stale = journal->append("c1", 0, {});
  BOOST_REQUIRE(!stale);
  BOOST_TEST(has_code(stale.error(), journal_errc::conflict));
  BOOST_TEST(journal->replay("c1", 0)->size() == 1u);
}

// Differs from memory_journal, which keeps such a record: the SQLite format
// stores a record on the append's last event row (see
// docs/journal-format.md). The cart actor never sends one (every accepted
// command yields exactly one event).
BOOST_AUTO_TEST_CASE(a_keyed_append_without_events_is_refused) {
  auto journal = open_journal(dir());
  auto req = make_append("c1", 0, {});
  req.idempotency_key = "k1";
  auto results = journal->append_batch({req, make_append("c2", 0, {"x"})});
  BOOST_REQUIRE_EQUAL(results.size(), 2u);
  BOOST_REQUIRE(!results[0]);
  BOOST_TEST(has_code(results[0].error(), journal_errc::unavailable));
  BOOST_REQUIRE(results[1]);
  BOOST_TEST(journal->recover("c1", 0)->idempotency.empty());
}

BOOST_AUTO_TEST_CASE(recover_returns_the_last_snapshot_and_the_later_events) {
  auto journal = open_journal(dir());
  auto first = make_append("c1", 0, {"a", "b"});
  first.snapshot = "state-2";
  auto second = make_append("c1", 2, {"c", "d"});
  second.snapshot = "state-4";
  auto results = journal->append_batch({first, second});
  BOOST_REQUIRE(results[0] && results[1]);
  BOOST_REQUIRE(journal->append("c1", 4, {"e", "f"}));
  auto state = journal->recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 4u);
  BOOST_TEST(state->snapshot == "state-4");
  BOOST_TEST(seqs_of(state->events) == (seqs{5, 6}),
             boost::test_tools::per_element());
  BOOST_TEST(payloads_of(state->events) == (strings{"e", "f"}),
             boost::test_tools::per_element());
  // replay ignores snapshots.
  BOOST_TEST(journal->replay("c1", 0)->size() == 6u);
}

BOOST_AUTO_TEST_CASE(recover_returns_the_idempotency_records_since_a_time) {
  auto journal = open_journal(dir());
  auto old_req = make_append("c1", 0, {"a", "b"});
  old_req.idempotency_key = "k-old";
  old_req.request_digest = "add_item|2|*|apple";
  old_req.response = "response-old";
  auto new_req = make_append("c1", 2, {"c"});
  new_req.idempotency_key = "k-new";
  new_req.request_digest = "remove_item|0|2|apple";
  new_req.response = "response-new";
  auto before = journal_now_ms();
  BOOST_REQUIRE(journal->append_batch({old_req})[0]);
  BOOST_REQUIRE(journal->append_batch({new_req})[0]);
  BOOST_REQUIRE(journal->append("c1", 3, {"d"}));
  auto after = journal_now_ms();
  // Age the first record by an hour, as if it had been committed back then.
  {
    raw_db db{db_file()};
    db.exec("UPDATE events SET recorded_at = recorded_at - 3600000 "
            "WHERE idempotency_key = 'k-old'");
  }
  auto all = journal->recover("c1", 0);
  BOOST_REQUIRE(all);
  BOOST_REQUIRE_EQUAL(all->idempotency.size(), 2u);
  auto& old_rec = all->idempotency[0];
  BOOST_TEST(old_rec.key == "k-old");
  BOOST_TEST(old_rec.request_digest == "add_item|2|*|apple");
  BOOST_TEST(old_rec.response == "response-old");
  BOOST_TEST(old_rec.seq == 2u);
  BOOST_TEST(old_rec.recorded_at_ms >= before - 3600000);
  BOOST_TEST(old_rec.recorded_at_ms <= after - 3600000);
  auto& new_rec = all->idempotency[1];
  BOOST_TEST(new_rec.key == "k-new");
  BOOST_TEST(new_rec.request_digest == "remove_item|0|2|apple");
  BOOST_TEST(new_rec.response == "response-new");
  BOOST_TEST(new_rec.seq == 3u);
  BOOST_TEST(new_rec.recorded_at_ms >= before);
  BOOST_TEST(new_rec.recorded_at_ms <= after);
  auto recent = journal->recover("c1", before);
  BOOST_REQUIRE(recent);
  BOOST_REQUIRE_EQUAL(recent->idempotency.size(), 1u);
  BOOST_TEST(recent->idempotency[0].key == "k-new");
  BOOST_TEST(recent->idempotency[0].recorded_at_ms == new_rec.recorded_at_ms);
  // The boundary is inclusive.
  auto exact = journal->recover("c1", new_rec.recorded_at_ms);
  BOOST_REQUIRE(exact);
  BOOST_TEST(exact->idempotency.size() == 1u);
  auto none = journal->recover("c1", after + 1);
  BOOST_REQUIRE(none);
  BOOST_TEST(none->idempotency.empty());
  BOOST_TEST(none->events.size() == 4u);
}

// -- durability ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_database_is_created_with_its_parents_in_wal_mode) {
  auto nested = (path / "a" / "b" / "journal").string();
  auto journal = open_journal(nested);
  auto file = (fs::path{nested} / "cartd.db").string();
  BOOST_TEST(fs::is_regular_file(file));
  raw_db db{file};
  BOOST_TEST(db.value("PRAGMA journal_mode") == "wal");
  BOOST_TEST(db.value("PRAGMA user_version") == "2");
  BOOST_TEST(db.rows(schema_query) == schema_v2,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_sync_mode_opens_and_appends) {
  for (auto mode : {"full", "normal", "off"}) {
    BOOST_TEST_CONTEXT("sync " << mode) {
      sqlite_options opts;
      opts.sync = mode;
      auto journal = open_journal(dir(), opts);
      auto stream = "c-"s + mode;
      BOOST_TEST(seq_of(journal->append(stream, 0, {"a"})) == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_sync_mode_is_refused) {
  sqlite_options opts;
  opts.sync = "sometimes";
  auto journal = sqlite_journal::open(dir(), opts);
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  BOOST_TEST(contains(message_of(journal.error()), "sometimes"),
             message_of(journal.error()));
}

// Writes `batches` commits of 100 appends, each to its own stream of 1,000,
// and returns the largest size the WAL file reached.
uintmax_t largest_wal(sqlite_journal& journal, const std::string& wal_file,
                      int batches) {
  std::vector<uint64_t> last(1000, 0);
  uintmax_t largest = 0;
  size_t next = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<journal_append> batch(100);
    for (auto& req : batch) {
      auto s = (next++ * 7919) % last.size();
      req.stream = "c" + std::to_string(s);
      req.expected_seq = last[s]++;
      req.payloads.assign(1, std::string(200, 'x'));
    }
    for (auto& r : journal.append_batch(batch))
      BOOST_REQUIRE(r);
    largest = std::max(largest, fs::file_size(wal_file));
  }
  return largest;
}

BOOST_AUTO_TEST_CASE(checkpoint_pages_bounds_the_wal) {
  auto wal_size = [&](int64_t pages, bool background, const std::string& sub) {
    auto d = (path / sub).string();
    sqlite_options opts;
    opts.checkpoint_pages = pages;
    opts.background_checkpoints = background;
    auto journal = open_journal(d, opts);
    return largest_wal(*journal, d + "/cartd.db-wal", 60);
  };
  constexpr uintmax_t page = 4096;
  // 6,000 appends of ~250 bytes to 1,000 streams touch far more than 64
  // pages; checkpointed at 64, the WAL is reused after every few commits.
  // In the background the WAL may reach twice that plus a commit (about 100
  // pages here) before the writer finishes the pass itself.
  auto small = wal_size(64, true, "small");
  auto small_inline = wal_size(64, false, "small-inline");
  auto large = wal_size(100000, true, "large");
  BOOST_TEST(small < 400 * page, small);
  BOOST_TEST(small_inline < 400 * page, small_inline);
  BOOST_TEST(large > 4 * small, large << " vs " << small);
}

BOOST_AUTO_TEST_CASE(events_survive_many_background_checkpoints) {
  // A WAL of 16 pages is checkpointed (in the background, then finished by
  // the writer) after nearly every commit, while commits go on.
  sqlite_options opts;
  opts.checkpoint_pages = 16;
  std::vector<uint64_t> last(300, 0);
  auto check_all = [&](sqlite_journal& journal) {
    for (size_t s = 0; s < last.size(); ++s) {
      auto events = journal.replay("c" + std::to_string(s), 0);
      BOOST_REQUIRE(events);
      BOOST_REQUIRE_EQUAL(events->size(), last[s]);
      for (size_t i = 0; i < events->size(); ++i) {
        BOOST_REQUIRE_EQUAL((*events)[i].seq, i + 1);
        BOOST_REQUIRE_EQUAL((*events)[i].payload, "e" + std::to_string(s) +
                                                      "-" +
                                                      std::to_string(i + 1));
      }
    }
  };
  {
    auto journal = open_journal(dir(), opts);
    size_t next = 0;
    for (int b = 0; b < 200; ++b) {
      std::vector<journal_append> batch(20);
      for (auto& req : batch) {
        auto s = (next++ * 7919) % last.size();
        req.stream = "c" + std::to_string(s);
        req.expected_seq = last[s]++;
        req.payloads.assign(1, "e" + std::to_string(s) + "-" +
                                   std::to_string(last[s]));
      }
      for (auto& r : journal->append_batch(batch))
        BOOST_REQUIRE(r);
    }
    check_all(*journal);
  }
  // Closed cleanly: the WAL is back in the database and gone.
  BOOST_TEST(!fs::exists(dir() + "/cartd.db-wal"));
  auto journal = open_journal(dir(), opts);
  check_all(*journal);
}

BOOST_AUTO_TEST_CASE(a_cache_or_checkpoint_size_out_of_range_is_refused) {
  sqlite_options bad_cache;
  bad_cache.cache_mib = -1;
  BOOST_TEST(!sqlite_journal::open(dir(), bad_cache));
  sqlite_options bad_checkpoint;
  bad_checkpoint.checkpoint_pages = 0;
  auto journal = sqlite_journal::open(dir(), bad_checkpoint);
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  BOOST_TEST(contains(message_of(journal.error()), "checkpoint_pages"),
             message_of(journal.error()));
}

BOOST_AUTO_TEST_CASE(a_closed_journal_keeps_its_events_snapshots_and_keys) {
  {
    auto journal = open_journal(dir());
    auto req = make_append("c1", 0, {"a", "b", "c"});
    req.snapshot = "state-3";
    req.idempotency_key = "k1";
    req.request_digest = "d1";
    req.response = "r1";
    BOOST_REQUIRE(journal->append_batch({req})[0]);
    BOOST_REQUIRE(journal->append("c1", 3, {"d"}));
    BOOST_REQUIRE(journal->append("c2", 0, {"x"}));
  }
  auto journal = open_journal(dir());
  auto state = journal->recover("c1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 3u);
  BOOST_TEST(state->snapshot == "state-3");
  BOOST_TEST(payloads_of(state->events) == (strings{"d"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(state->idempotency.size(), 1u);
  BOOST_TEST(state->idempotency[0].key == "k1");
  BOOST_TEST(state->idempotency[0].request_digest == "d1");
  BOOST_TEST(state->idempotency[0].response == "r1");
  BOOST_TEST(state->idempotency[0].seq == 3u);
  BOOST_TEST(payloads_of(*journal->replay("c1", 0)) ==
                 (strings{"a", "b", "c", "d"}),
             boost::test_tools::per_element());
  BOOST_TEST(payloads_of(*journal->replay("c2", 0)) == (strings{"x"}),
             boost::test_tools::per_element());
  // The reopened journal continues the streams.
  BOOST_TEST(seq_of(journal->append("c1", 4, {"e"})) == 5u);
  BOOST_TEST(!journal->append("c2", 0, {"y"}));
}

// -- two writers on one file --------------------------------------------------

// Not exclusive: the journal's own conflict rules, whatever the directory
// lock (which a node always takes) allows.
sqlite_options shared() {
  sqlite_options result;
  result.exclusive = false;
  return result;
}

BOOST_AUTO_TEST_CASE(of_two_journals_on_one_directory_one_extends_a_stream) {
  auto first = open_journal(dir(), shared());
  auto second = open_journal(dir(), shared());
  BOOST_REQUIRE(first->append("c1", 0, {"a"}));
  // The second journal sees the first one's commit.
  BOOST_TEST(second->replay("c1", 0)->size() == 1u);
  auto winner = second->append("c1", 1, {"from-second"});
  auto loser = first->append("c1", 1, {"from-first"});
  BOOST_REQUIRE(winner);
  BOOST_TEST(*winner == 2u);
  BOOST_REQUIRE(!loser);
  BOOST_TEST(has_code(loser.error(), journal_errc::conflict));
  for (auto* journal : {first.get(), second.get()})
    BOOST_TEST(payloads_of(*journal->replay("c1", 0)) ==
                   (strings{"a", "from-second"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(of_two_journals_racing_on_two_threads_exactly_one_wins) {
  auto first = open_journal(dir(), shared());
  auto second = open_journal(dir(), shared());
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    auto stream = "race-" + std::to_string(round);
    std::promise<void> go;
    auto start = go.get_future().share();
    auto attempt = [start, stream](sqlite_journal* journal, std::string tag) {
      start.wait();
      return journal->append(stream, 0, {tag});
    };
    auto a = std::async(std::launch::async, attempt, first.get(), "first");
    auto b = std::async(std::launch::async, attempt, second.get(), "second");
    go.set_value();
    auto ra = a.get();
    auto rb = b.get();
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_REQUIRE(static_cast<bool>(ra) != static_cast<bool>(rb));
      auto& lost = ra ? rb : ra;
      BOOST_TEST(has_code(lost.error(), journal_errc::conflict),
                 caf::to_string(lost.error()));
      auto events = first->replay(stream, 0);
      BOOST_REQUIRE(events);
      BOOST_REQUIRE_EQUAL(events->size(), 1u);
      BOOST_TEST(events->front().payload == (ra ? "first" : "second"));
    }
  }
}

// -- storage faults -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_directory_below_a_regular_file_cannot_be_opened) {
  // Tests may run as root, for whom permissions do not stop anything; a
  // regular file where a directory should be does.
  auto blocker = path / "not-a-directory";
  std::ofstream{blocker} << "just a file\n";
  auto dir = (blocker / "journal").string();
  auto journal = sqlite_journal::open(dir);
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  auto msg = message_of(journal.error());
  BOOST_TEST(contains(msg, dir), msg);
  BOOST_TEST(contains(msg, "cannot"), msg);
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_database_cannot_be_opened) {
  fs::create_directories(dir());
  std::string garbage;
  for (int i = 0; i < 200; ++i)
    garbage += "this is not a database, it is a text file\n";
  std::ofstream{db_file()} << garbage;
  auto journal = sqlite_journal::open(dir());
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  auto msg = message_of(journal.error());
  BOOST_TEST(contains(msg, db_file()), msg);
  BOOST_TEST(contains(msg, "not a database"), msg);
  // Left as it was.
  std::ifstream in{db_file()};
  std::string content{std::istreambuf_iterator<char>{in}, {}};
  BOOST_TEST(content == garbage);
}

BOOST_AUTO_TEST_CASE(a_database_with_a_newer_format_version_is_refused) {
  {
    auto journal = open_journal(dir());
    BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  }
  {
    raw_db db{db_file()};
    db.exec("PRAGMA user_version = 3");
  }
  auto journal = sqlite_journal::open(dir());
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  auto msg = message_of(journal.error());
  BOOST_TEST(contains(msg, db_file()), msg);
  BOOST_TEST(contains(msg, "format version 3"), msg);
  raw_db db{db_file()};
  BOOST_TEST(db.value("PRAGMA user_version") == "3");
}

BOOST_AUTO_TEST_CASE(a_database_of_another_program_is_refused) {
  fs::create_directories(dir());
  {
    raw_db db{db_file()};
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)");
  }
  auto journal = sqlite_journal::open(dir());
  BOOST_REQUIRE(!journal);
  BOOST_TEST(has_code(journal.error(), journal_errc::unavailable));
  auto msg = message_of(journal.error());
  BOOST_TEST(contains(msg, "not a cartd journal"), msg);
  raw_db db{db_file()};
  BOOST_TEST(db.rows("SELECT name FROM sqlite_master") == strings{"orders"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_locked_database_fails_the_whole_batch_as_unavailable) {
  sqlite_options opts;
  opts.busy_timeout = 20ms;
  auto journal = open_journal(dir(), opts);
  BOOST_REQUIRE(journal->append("c1", 0, {"a"}));
  raw_db other{db_file()};
  other.exec("BEGIN IMMEDIATE");
  auto results = journal->append_batch(
      {make_append("c1", 1, {"b"}), make_append("c2", 0, {"x"})});
  BOOST_REQUIRE_EQUAL(results.size(), 2u);
  for (auto& result : results) {
    BOOST_REQUIRE(!result);
    BOOST_TEST(has_code(result.error(), journal_errc::unavailable));
    BOOST_TEST(contains(message_of(result.error()), "locked"),
               message_of(result.error()));
  }
  // Readers are not blocked in WAL mode, and nothing of the batch is there.
  BOOST_TEST(journal->replay("c1", 0)->size() == 1u);
  BOOST_TEST(journal->replay("c2", 0)->empty());
  other.exec("ROLLBACK");
  BOOST_TEST(seq_of(journal->append("c1", 1, {"b"})) == 2u);
}

BOOST_AUTO_TEST_CASE(a_full_disk_fails_appends_and_keeps_earlier_data_intact) {
  sqlite_options opts;
  opts.max_page_count = 24;
  auto journal = open_journal(dir(), opts);
  const std::vector<std::string> streams{"s0", "s1", "s2"};
  auto payload = [](const std::string& stream, size_t batch, int i) {
    return stream + "/" + std::to_string(batch) + "/" + std::to_string(i) +
           "/" + std::string(600, 'x');
  };
  size_t committed = 0;
  std::vector<caf::expected<uint64_t>> failed;
  for (size_t batch = 0; batch < 1000 && failed.empty(); ++batch) {
    std::vector<journal_append> reqs;
    for (auto& stream : streams) {
      auto req =
          make_append(stream, 2 * batch,
                      {payload(stream, batch, 0), payload(stream, batch, 1)});
      req.idempotency_key = "key-" + std::to_string(batch);
      req.snapshot = "state-" + std::to_string(2 * batch + 2);
      reqs.push_back(std::move(req));
    }
    auto results = journal->append_batch(reqs);
    BOOST_REQUIRE_EQUAL(results.size(), reqs.size());
    if (results.front())
      ++committed;
    else
      failed = std::move(results);
  }
  BOOST_REQUIRE(!failed.empty());
  BOOST_REQUIRE(committed > 0u);
  for (auto& result : failed) {
    BOOST_REQUIRE(!result);
    BOOST_TEST(has_code(result.error(), journal_errc::unavailable));
    BOOST_TEST(contains(message_of(result.error()), "full"),
               message_of(result.error()));
  }
  auto check_intact = [&](sqlite_journal& reader) {
    for (auto& stream : streams) {
      BOOST_TEST_CONTEXT("stream " << stream) {
        auto all = reader.replay(stream, 0);
        BOOST_REQUIRE(all);
        // Every committed batch, and not one event of the failed one.
        BOOST_REQUIRE_EQUAL(all->size(), 2 * committed);
        for (size_t i = 0; i < all->size(); ++i)
          BOOST_TEST((*all)[i].payload ==
                     payload(stream, i / 2, static_cast<int>(i % 2)));
        auto state = reader.recover(stream, 0);
        BOOST_REQUIRE(state);
        BOOST_TEST(state->snapshot_seq == 2 * committed);
        BOOST_TEST(state->snapshot == "state-" + std::to_string(2 * committed));
        BOOST_TEST(state->events.empty());
        BOOST_TEST(state->idempotency.size() == committed);
      }
    }
  };
  check_intact(*journal);
  {
    raw_db db{db_file()};
    BOOST_TEST(db.value("PRAGMA integrity_check") == "ok");
  }
  journal.reset();
  // Without the cap (more disk space), the same file takes appends again.
  auto reopened = open_journal(dir());
  check_intact(*reopened);
  BOOST_TEST(seq_of(reopened->append("s0", 2 * committed, {"more"})) ==
             2 * committed + 1);
}

// Checks what every format version's fixture holds (fixtures/README.md):
// each cart's events, and cart-1's snapshot, later event and idempotency
// record (committed at `key_recorded_at`).
template <class Journal>
void check_fixture_contents(Journal& journal, int64_t key_recorded_at) {
  for (auto& cart : fixture_carts) {
    BOOST_TEST_CONTEXT("stream " << cart.stream) {
      auto events = journal.replay(cart.stream, 0);
      BOOST_REQUIRE(events);
      BOOST_TEST(payloads_of(*events) == cart.events,
                 boost::test_tools::per_element());
      seqs expected_seqs;
      for (uint64_t i = 1; i <= cart.events.size(); ++i)
        expected_seqs.push_back(i);
      BOOST_TEST(seqs_of(*events) == expected_seqs,
                 boost::test_tools::per_element());
    }
  }
  auto state = journal.recover("cart-1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->snapshot_seq == 3u);
  BOOST_TEST(state->snapshot == fixture_snapshot);
  BOOST_REQUIRE_EQUAL(state->events.size(), 1u);
  BOOST_TEST(state->events[0].seq == 4u);
  BOOST_TEST(state->events[0].payload == fixture_carts[0].events[3]);
  BOOST_REQUIRE_EQUAL(state->idempotency.size(), 1u);
  auto& record = state->idempotency[0];
  BOOST_TEST(record.key == fixture_key);
  BOOST_TEST(record.request_digest == fixture_digest);
  BOOST_TEST(record.response == fixture_response);
  BOOST_TEST(record.seq == 4u);
  BOOST_TEST(record.recorded_at_ms == key_recorded_at);
}

// -- the v1 file format -------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_v1_database_reads_back_exactly) {
  fs::create_directories(dir());
  fs::copy_file(fs::path{CARTD_JOURNAL_FIXTURES} / "journal-v1" / "cartd.db",
                db_file());
  {
    raw_db db{db_file()};
    BOOST_TEST(db.value("PRAGMA user_version") == "1");
    BOOST_TEST(db.rows(schema_query) == schema_v1,
               boost::test_tools::per_element());
  }
  auto journal = open_journal(dir());
  {
    // Upgraded on open: the v2 schema, and every v1 event has tag 0.
    raw_db db{db_file()};
    BOOST_TEST(db.value("PRAGMA user_version") == "2");
    BOOST_TEST(db.rows(schema_query) == schema_v2,
               boost::test_tools::per_element());
    BOOST_TEST(db.rows("SELECT DISTINCT tag FROM events") == strings{"0"},
               boost::test_tools::per_element());
  }
  check_fixture_contents(*journal, fixture_key_recorded_at);
  auto state = journal->recover("cart-1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->last_tag == 0u);
  auto later = journal->recover("cart-1", fixture_key_recorded_at + 1);
  BOOST_REQUIRE(later);
  BOOST_TEST(later->idempotency.empty());
  for (auto stream : {"cart-2", "cart-3"}) {
    auto other = journal->recover(stream, 0);
    BOOST_REQUIRE(other);
    BOOST_TEST(other->snapshot_seq == 0u);
    BOOST_TEST(other->events.size() == 2u);
    BOOST_TEST(other->idempotency.empty());
    BOOST_TEST(other->last_tag == 0u);
  }
  // A writer that recovered a v1 event expects tag 0 there.
  auto fig = R"({"v":1,"type":"item_added","item":"fig","quantity":1})"s;
  auto wrong = journal->append_batch(
      {make_append("cart-3", 2, {fig}, fixture_tag_1, fixture_tag_1)});
  BOOST_REQUIRE(!wrong.front());
  BOOST_TEST(has_code(wrong.front().error(), journal_errc::conflict));
  auto more = journal->append_batch(
      {make_append("cart-3", 2, {fig}, 0, fixture_tag_1)});
  BOOST_TEST(seq_of(more.front()) == 3u);
  BOOST_TEST(journal->recover("cart-3", 0)->last_tag == fixture_tag_1);
  journal.reset();
  // Opened again, it is a v2 file like any other.
  auto reopened = open_journal(dir());
  BOOST_TEST(reopened->replay("cart-3", 0)->size() == 3u);
}

// -- the v2 file format -------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_v2_database_reads_back_exactly) {
  fs::create_directories(dir());
  fs::copy_file(fs::path{CARTD_JOURNAL_FIXTURES} / "journal-v2" / "cartd.db",
                db_file());
  {
    raw_db db{db_file()};
    BOOST_TEST(db.value("PRAGMA user_version") == "2");
    BOOST_TEST(db.rows(schema_query) == schema_v2,
               boost::test_tools::per_element());
    auto t1 = sql_int(fixture_tag_1);
    auto t2 = sql_int(fixture_tag_2);
    auto t3 = sql_int(fixture_tag_3);
    auto t4 = sql_int(fixture_tag_4);
    BOOST_TEST(
        db.rows("SELECT stream, seq, tag FROM events "
                "ORDER BY stream, seq") ==
            (strings{"cart-1|1|" + t1, "cart-1|2|" + t1, "cart-1|3|" + t2,
                     "cart-1|4|" + t2, "cart-2|1|" + t3, "cart-2|2|" + t3,
                     "cart-3|1|" + t4, "cart-3|2|" + t4}),
        boost::test_tools::per_element());
  }
  auto journal = open_journal(dir());
  check_fixture_contents(*journal, fixture_v2_key_recorded_at);
  auto state = journal->recover("cart-1", 0);
  BOOST_REQUIRE(state);
  BOOST_TEST(state->last_tag == fixture_tag_2);
  // cart-2's snapshot covers its last event; the tag is still there.
  auto covered = journal->recover("cart-2", 0);
  BOOST_REQUIRE(covered);
  BOOST_TEST(covered->snapshot_seq == 2u);
  BOOST_TEST(covered->snapshot == fixture_v2_snapshot_2);
  BOOST_TEST(covered->events.empty());
  BOOST_TEST(covered->last_tag == fixture_tag_3);
  auto plain = journal->recover("cart-3", 0);
  BOOST_REQUIRE(plain);
  BOOST_TEST(plain->events.size() == 2u);
  BOOST_TEST(plain->last_tag == fixture_tag_4);
  // The rule holds on the stored tags.
  auto fig = R"({"v":1,"type":"item_added","item":"fig","quantity":1})"s;
  auto wrong = journal->append_batch(
      {make_append("cart-1", 4, {fig}, fixture_tag_1, fixture_tag_1)});
  BOOST_REQUIRE(!wrong.front());
  BOOST_TEST(has_code(wrong.front().error(), journal_errc::conflict));
  auto right = journal->append_batch(
      {make_append("cart-1", 4, {fig}, fixture_tag_2, fixture_tag_1)});
  BOOST_TEST(seq_of(right.front()) == 5u);
}

// Writes fixtures/journal-v2/cartd.db. Disabled: run it by name only when a
// fixture must be made (see fixtures/README.md), never to "fix" a failing
// fixture test. (journal-v1 was written by this test's v1 version,
// writes_the_v1_fixture, which went with format v1.)
BOOST_AUTO_TEST_CASE(writes_the_v2_fixture, *boost::unit_test::disabled()) {
  auto out = std::getenv("CARTD_JOURNAL_FIXTURE_OUT");
  BOOST_REQUIRE_MESSAGE(out != nullptr, "set CARTD_JOURNAL_FIXTURE_OUT");
  {
    auto journal = open_journal(dir());
    auto event = [](size_t cart, size_t i) {
      return fixture_carts[cart].events[i];
    };
    // As the journal actor would have batched them, from carts that tag
    // their events and expect their own tag on the event they extend.
    auto first = journal->append_batch(
        {make_append("cart-1", 0, {event(0, 0)}, 0, fixture_tag_1),
         make_append("cart-2", 0, {event(1, 0)}, 0, fixture_tag_3),
         make_append("cart-3", 0, {event(2, 0)}, 0, fixture_tag_4)});
    auto covered =
        make_append("cart-2", 1, {event(1, 1)}, fixture_tag_3, fixture_tag_3);
    covered.snapshot = fixture_v2_snapshot_2;
    auto second = journal->append_batch(
        {make_append("cart-1", 1, {event(0, 1)}, fixture_tag_1, fixture_tag_1),
         covered});
    // cart-1's second incarnation recovered event 2 (tag_1).
    auto with_snapshot =
        make_append("cart-1", 2, {event(0, 2)}, fixture_tag_1, fixture_tag_2);
    with_snapshot.snapshot = fixture_snapshot;
    auto keyed =
        make_append("cart-1", 3, {event(0, 3)}, fixture_tag_2, fixture_tag_2);
    keyed.idempotency_key = fixture_key;
    keyed.request_digest = fixture_digest;
    keyed.response = fixture_response;
    auto third = journal->append_batch(
        {with_snapshot,
         make_append("cart-3", 1, {event(2, 1)}, fixture_tag_4, fixture_tag_4),
         keyed});
    for (auto* results : {&first, &second, &third})
      for (auto& result : *results)
        if (!result)
          BOOST_FAIL(caf::to_string(result.error()));
  }
  {
    // Back to a rollback journal, so the one file holds everything.
    raw_db db{db_file()};
    BOOST_REQUIRE(db.value("PRAGMA journal_mode = DELETE") == "delete");
    db.exec("VACUUM");
    auto recorded_at = db.value("SELECT recorded_at FROM events "
                                "WHERE idempotency_key IS NOT NULL");
    BOOST_TEST_MESSAGE("idempotency record committed at "
                       << recorded_at << " (fixture_v2_key_recorded_at)");
  }
  auto target = fs::path{out} / "cartd.db";
  fs::create_directories(out);
  fs::copy_file(db_file(), target, fs::copy_options::overwrite_existing);
  BOOST_TEST_MESSAGE("wrote " << target.string());
}

BOOST_AUTO_TEST_SUITE_END()
