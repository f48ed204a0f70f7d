#include "runtime/journal/sqlite_journal.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include <sqlite3.h>

#include "runtime/journal/sqlite_checkpointer.hpp"

namespace cartd {

namespace {

// The v2 schema, exactly as docs/journal-format.md shows it. SQLite keeps
// this text in sqlite_master; the fixture tests compare it, so any change here
// is a format change (new user_version, upgrade, new fixture). The events
// table reads as `ALTER TABLE ... ADD COLUMN` writes it into a v1 table, so
// an upgraded and a new database hold the same text.
constexpr const char* schema_v2[] = {
    "CREATE TABLE events (\n"
    "  stream TEXT NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  payload TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL,\n"
    "  idempotency_key TEXT,\n"
    "  request_digest TEXT,\n"
    "  response TEXT, tag INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (stream, seq)\n"
    ") WITHOUT ROWID",
    "CREATE INDEX events_idempotency ON events (stream, recorded_at)\n"
    "  WHERE idempotency_key IS NOT NULL",
    "CREATE TABLE snapshots (\n"
    "  stream TEXT PRIMARY KEY,\n"
    "  seq INTEGER NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  recorded_at INTEGER NOT NULL\n"
    ")",
};

// Turns a v1 database into a v2 one: v1 events get tag 0. Only the schema
// text changes (SQLite does not rewrite the rows), so it is quick at any size.
constexpr const char* upgrade_v1_to_v2 =
    "ALTER TABLE events ADD COLUMN tag INTEGER NOT NULL DEFAULT 0";

constexpr auto max_sql_int =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// read_events' result for a gap in a stream's sequence numbers (SQLite's
// result codes are never negative).
constexpr int gap_found = -1;

caf::error open_error(const std::string& path, const std::string& why) {
  return make_error(journal_errc::unavailable,
                    "cannot open journal " + path + ": " + why);
}

caf::error open_error(const std::string& path, sqlite3* db, int rc) {
  return open_error(path,
                    db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

caf::error version_error(const std::string& path, int64_t version) {
  return open_error(path,
                    "unsupported format version " + std::to_string(version) +
                        " (this cartd reads " + "versions up to " +
                        std::to_string(sqlite_journal::format_version) + ")");
}

// SQLite's generic text for `rc`, plus its message for the connection when
// that says more (e.g. which constraint failed).
std::string describe(sqlite3* db, int rc) {
  std::string result = sqlite3_errstr(rc);
  std::string detail = sqlite3_errmsg(db);
  if (detail != result && detail != "not an error")
    result += " (" + detail + ")";
  return result;
}

int bind(sqlite3_stmt* stmt, int i, const std::string& x) {
  // SQLITE_STATIC: the strings outlive the step; bindings are cleared before
  // the statement is used again.
  return sqlite3_bind_text64(stmt, i, x.data(), x.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}

int bind(sqlite3_stmt* stmt, int i, int64_t x) {
  return sqlite3_bind_int64(stmt, i, x);
}

/// Binds `xs` to the parameters 1, 2, ... and stops at the first failure.
template <class... Ts>
int bind_all(sqlite3_stmt* stmt, const Ts&... xs) {
  int i = 0;
  int rc = SQLITE_OK;
  ((rc = rc == SQLITE_OK ? bind(stmt, ++i, xs) : rc), ...);
  return rc;
}

std::string column_text(sqlite3_stmt* stmt, int i) {
  auto str = sqlite3_column_text(stmt, i);
  if (str == nullptr)
    return {};
  auto size = static_cast<size_t>(sqlite3_column_bytes(stmt, i));
  return std::string{reinterpret_cast<const char*>(str), size};
}

uint64_t column_seq(sqlite3_stmt* stmt, int i) {
  return static_cast<uint64_t>(sqlite3_column_int64(stmt, i));
}

/// Leaves a statement reset and unbound at the end of a scope, so it is
/// never left busy (holding a read lock) after an early return.
class stmt_guard {
public:
  explicit stmt_guard(sqlite3_stmt* stmt) : stmt_(stmt) {
    // nop
  }

  stmt_guard(const stmt_guard&) = delete;
  stmt_guard& operator=(const stmt_guard&) = delete;

  ~stmt_guard() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

private:
  sqlite3_stmt* stmt_;
};

/// Steps a statement that returns no rows. Returns SQLITE_DONE on success.
int run(sqlite3_stmt* stmt) {
  stmt_guard guard{stmt};
  return sqlite3_step(stmt);
}

/// Runs `sql` (no parameters) and reads the first column of its first row.
int query_text(sqlite3* db, const char* sql, std::string& result) {
  sqlite3_stmt* stmt = nullptr;
  auto rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      result = column_text(stmt, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      result.clear();
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(stmt);
  return rc;
}

int query_int(sqlite3* db, const char* sql, int64_t& result) {
  std::string text;
  auto rc = query_text(db, sql, text);
  if (rc == SQLITE_OK)
    result = text.empty() ? 0 : std::stoll(text);
  return rc;
}

int exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

// Creates the schema in a new database, or upgrades a v1 database, inside a
// write transaction so that two processes opening the same file do it once.
caf::error init_schema(const std::string& path, sqlite3* db) {
  auto fail = [&](int rc) {
    auto err = open_error(path, db, rc);
    if (!sqlite3_get_autocommit(db))
      exec(db, "ROLLBACK");
    return err;
  };
  if (auto rc = exec(db, "BEGIN IMMEDIATE"); rc != SQLITE_OK)
    return fail(rc);
  int64_t version = 0;
  if (auto rc = query_int(db, "PRAGMA user_version", version); rc != SQLITE_OK)
    return fail(rc);
  if (version == 0) {
    int64_t objects = 0;
    auto rc = query_int(db, "SELECT count(*) FROM sqlite_master", objects);
    if (rc != SQLITE_OK)
      return fail(rc);
    if (objects != 0) {
      exec(db, "ROLLBACK");
      return open_error(path, "not a cartd journal (it holds tables but no "
                              "format version)");
    }
    for (auto sql : schema_v2)
      if (rc = exec(db, sql); rc != SQLITE_OK)
        return fail(rc);
    rc = exec(db, "PRAGMA user_version = " +
                      std::to_string(sqlite_journal::format_version));
    if (rc != SQLITE_OK)
      return fail(rc);
  } else if (version == 1) {
    // In the same transaction as the version check: two processes opening
    // one v1 file upgrade it once, and a failed upgrade leaves it v1.
    if (auto rc = exec(db, upgrade_v1_to_v2); rc != SQLITE_OK)
      return fail(rc);
    auto rc = exec(db, "PRAGMA user_version = " +
                           std::to_string(sqlite_journal::format_version));
    if (rc != SQLITE_OK)
      return fail(rc);
  } else if (version != sqlite_journal::format_version) {
    exec(db, "ROLLBACK");
    return version_error(path, version);
  }
  if (auto rc = exec(db, "COMMIT"); rc != SQLITE_OK)
    return fail(rc);
  return {};
}

} // namespace

// -- construction -------------------------------------------------------------

void sqlite_journal::db_closer::operator()(sqlite3* db) const noexcept {
  sqlite3_close_v2(db);
}

void sqlite_journal::stmt_finalizer::operator()(
    sqlite3_stmt* stmt) const noexcept {
  sqlite3_finalize(stmt);
}

sqlite_journal::sqlite_journal(std::string path, db_ptr db)
    : path_(std::move(path)), db_(std::move(db)) {
  // nop
}

sqlite_journal::~sqlite_journal() {
  // Statements are finalized before db_ closes (declaration order); closing
  // the last connection checkpoints the WAL into the database file.
}

caf::expected<std::unique_ptr<sqlite_journal>>
sqlite_journal::open(const std::string& dir, sqlite_options opts) {
  auto path = (std::filesystem::path{dir} / file_name).string();
  const char* sync = nullptr;
  if (opts.sync == "full")
    sync = "PRAGMA synchronous = FULL";
  else if (opts.sync == "normal")
    sync = "PRAGMA synchronous = NORMAL";
  else if (opts.sync == "off")
    sync = "PRAGMA synchronous = OFF";
  else
    return open_error(path, "sync must be full, normal or off, not \"" +
                                opts.sync + "\"");
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return open_error(path,
                        "cannot create directory " + dir + ": " + ec.message());
  }
  // Before SQLite touches the file: a second process must not even upgrade
  // or checkpoint it.
  directory_lock lock;
  if (opts.exclusive) {
    auto acquired = directory_lock::acquire(dir.empty() ? "." : dir);
    if (!acquired)
      return std::move(acquired.error());
    lock = std::move(*acquired);
  }
  sqlite3* raw = nullptr;
  auto flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  auto rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // SQLite hands out a connection even when opening fails; it must be closed.
  db_ptr db{raw};
  if (rc != SQLITE_OK)
    return open_error(path, db.get(), rc);
  using std::chrono::milliseconds;
  auto timeout_ms =
      std::chrono::duration_cast<milliseconds>(opts.busy_timeout).count();
  timeout_ms =
      std::clamp<int64_t>(timeout_ms, 0, std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db.get(), static_cast<int>(timeout_ms));
  // The first read of the file: fails on a file that is not a database. The
  // version is checked before anything writes to the file.
  int64_t version = 0;
  if (rc = query_int(db.get(), "PRAGMA user_version", version); rc != SQLITE_OK)
    return open_error(path, db.get(), rc);
  if (version > format_version)
    return version_error(path, version);
  std::string mode;
  if (rc = query_text(db.get(), "PRAGMA journal_mode = WAL", mode);
      rc != SQLITE_OK)
    return open_error(path, db.get(), rc);
  if (mode != "wal")
    return open_error(path, "cannot switch to WAL mode (journal mode is " +
                                mode + ")");
  if (rc = exec(db.get(), sync); rc != SQLITE_OK)
    return open_error(path, db.get(), rc);
  if (opts.cache_mib < 0 || opts.checkpoint_pages < 1)
    return open_error(path, "cache_mib must be at least 0 and "
                            "checkpoint_pages at least 1");
  // A negative cache_size is in KiB.
  auto cache = "PRAGMA cache_size = -" + std::to_string(opts.cache_mib * 1024);
  if (rc = exec(db.get(), cache); rc != SQLITE_OK)
    return open_error(path, db.get(), rc);
  if (!opts.background_checkpoints) {
    auto checkpoint =
        "PRAGMA wal_autocheckpoint = " + std::to_string(opts.checkpoint_pages);
    if (rc = exec(db.get(), checkpoint); rc != SQLITE_OK)
      return open_error(path, db.get(), rc);
  }
  if (opts.max_page_count > 0) {
    auto sql = "PRAGMA max_page_count = " + std::to_string(opts.max_page_count);
    if (rc = exec(db.get(), sql); rc != SQLITE_OK)
      return open_error(path, db.get(), rc);
  }
  if (auto err = init_schema(path, db.get()))
    return err;
  std::unique_ptr<sqlite_journal> result{
      new sqlite_journal(std::move(path), std::move(db))};
  result->lock_ = std::move(lock);
  if (auto err = result->prepare_statements())
    return err;
  if (opts.background_checkpoints) {
    auto checkpointer = sqlite_checkpointer::start(
        result->path_, sync, static_cast<int>(timeout_ms));
    if (!checkpointer)
      return std::move(checkpointer.error());
    result->checkpointer_ = std::move(*checkpointer);
    result->checkpoint_pages_ = opts.checkpoint_pages;
    // Replaces SQLite's automatic checkpoint, which is a WAL hook too.
    sqlite3_wal_hook(result->db_.get(), &sqlite_journal::on_wal_commit,
                     result.get());
  }
  return result;
}

int sqlite_journal::on_wal_commit(void* ptr, sqlite3*, const char*,
                                  int frames) {
  auto self = static_cast<sqlite_journal*>(ptr);
  if (frames < self->wal_frames_)
    ++self->wal_generation_;
  self->wal_frames_ = frames;
  return SQLITE_OK;
}

void sqlite_journal::after_commit() {
  if (!checkpointer_ || wal_frames_ < checkpoint_pages_)
    return;
  // A pass never catches up with a writer that commits faster than it
  // copies: at twice its length, the WAL is finished here whatever it costs.
  auto too_long = wal_frames_ >= 2 * checkpoint_pages_;
  if (too_long)
    checkpointer_->wait_idle();
  if (auto done = checkpointer_->take_finished();
      too_long || (done && requested_generation_ == wal_generation_)) {
    // What the pass left is about what was committed while it ran. Once
    // that is little, copy it here: a pass that catches up with the writer
    // lets the next commit start the WAL over.
    auto left = done ? static_cast<int64_t>(wal_frames_) - done->backfilled
                     : static_cast<int64_t>(wal_frames_);
    if (too_long || left <= std::max<int64_t>(checkpoint_pages_ / 16, 64)) {
      int wal_frames = 0;
      int backfilled = 0;
      auto rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr,
                                          SQLITE_CHECKPOINT_PASSIVE,
                                          &wal_frames, &backfilled);
      if (rc == SQLITE_OK && backfilled == wal_frames)
        return;
    }
  }
  if (checkpointer_->request())
    requested_generation_ = wal_generation_;
}

caf::error sqlite_journal::prepare_statements() {
  struct entry {
    stmt_ptr* stmt;
    const char* sql;
  };
  entry entries[] = {
      {&begin_read_, "BEGIN"},
      {&begin_write_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&last_event_,
       "SELECT seq, tag FROM events WHERE stream = ?1 ORDER BY seq DESC "
       "LIMIT 1"},
      {&insert_event_, "INSERT INTO events (stream, seq, payload, recorded_at, "
                       "idempotency_key, request_digest, response, tag) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&upsert_snapshot_,
       "INSERT INTO snapshots (stream, seq, state, recorded_at) "
       "VALUES (?1, ?2, ?3, ?4) "
       "ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, "
       "state = excluded.state, recorded_at = excluded.recorded_at"},
      // With the tag of the event the snapshot ends with, the stream's last
      // one when no event follows (events are never deleted).
      {&select_snapshot_,
       "SELECT s.seq, s.state, e.tag FROM snapshots AS s "
       "LEFT JOIN events AS e ON e.stream = s.stream AND e.seq = s.seq "
       "WHERE s.stream = ?1"},
      {&select_events_,
       "SELECT seq, payload, tag FROM events WHERE stream = ?1 AND seq > ?2 "
       "ORDER BY seq"},
      // Without ANALYZE statistics the planner would walk the stream's whole
      // history by primary key (ORDER BY seq tempts it); the partial index
      // reads only the keyed events within retention.
      {&select_keys_,
       "SELECT idempotency_key, request_digest, response, seq, recorded_at "
       "FROM events INDEXED BY events_idempotency "
       "WHERE stream = ?1 AND idempotency_key IS NOT NULL "
       "AND recorded_at >= ?2 ORDER BY seq"},
  };
  for (auto& x : entries) {
    sqlite3_stmt* stmt = nullptr;
    auto rc = sqlite3_prepare_v3(db_.get(), x.sql, -1,
                                 SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    x.stmt->reset(stmt);
    if (rc != SQLITE_OK)
      return open_error(path_, db_.get(), rc);
  }
  return {};
}

// -- modifiers ----------------------------------------------------------------

std::vector<caf::expected<uint64_t>>
sqlite_journal::append_batch(const std::vector<journal_append>& batch) {
  std::vector<caf::expected<uint64_t>> result;
  if (batch.empty())
    return result;
  result.reserve(batch.size());
  auto rc = run(begin_write_.get());
  if (rc == SQLITE_DONE) {
    rc = write_batch(batch, journal_now_ms(), result);
    if (rc == SQLITE_DONE)
      rc = run(commit_.get());
  }
  if (rc == SQLITE_DONE) {
    after_commit();
    return result;
  }
  // Nothing of the batch may stay: roll back whatever SQLite has not rolled
  // back on its own (it keeps the transaction open after SQLITE_BUSY, for
  // instance) and fail every request.
  auto why = describe(db_.get(), rc);
  if (!sqlite3_get_autocommit(db_.get()))
    run(rollback_.get());
  auto err = make_error(journal_errc::unavailable,
                        "cannot commit " + std::to_string(batch.size()) +
                            " appends to " + path_ + ": " + why);
  result.clear();
  for (size_t i = 0; i < batch.size(); ++i)
    result.emplace_back(err);
  return result;
}

int sqlite_journal::write_batch(const std::vector<journal_append>& batch,
                                int64_t now,
                                std::vector<caf::expected<uint64_t>>& result) {
  for (auto& req : batch) {
    // Reads inside the transaction: sees this batch's earlier inserts and
    // every other connection's commits, and no other connection writes
    // before COMMIT (BEGIN IMMEDIATE), so the check and the inserts are one
    // atomic step. (One INSERT ... SELECT ... WHERE EXISTS, as PostgreSQL
    // will do it, makes SQLite copy the row through a temporary table, since
    // the statement reads the table it writes: 60-80% more CPU per append,
    // measured. See docs/journal-format.md.)
    uint64_t seq = 0;
    uint64_t tag = 0;
    if (auto rc = last_event(req.stream, seq, tag); rc != SQLITE_DONE)
      return rc;
    // The one rule (journal_backend::append_batch).
    if (seq != req.expected_seq || (seq > 0 && tag != req.expected_tag)) {
      result.emplace_back(
          make_error(journal_errc::conflict,
                     req.stream + " is at " + std::to_string(seq)));
      continue;
    }
    bool keyed = !req.idempotency_key.empty();
    if (keyed && req.payloads.empty()) {
      // The record lives on the append's last event row; with no event
      // there is nowhere to keep it, and dropping it silently would let a
      // retry run twice.
      result.emplace_back(make_error(journal_errc::unavailable,
                                     "an append with an idempotency key "
                                     "needs at least one event"));
      continue;
    }
    if (seq + req.payloads.size() > max_sql_int)
      return SQLITE_RANGE;
    auto* insert = insert_event_.get();
    for (size_t i = 0; i < req.payloads.size(); ++i) {
      stmt_guard guard{insert};
      ++seq;
      // Tags are stored as the signed 64-bit integer with the same bits.
      auto rc = bind_all(insert, req.stream, static_cast<int64_t>(seq),
                         req.payloads[i], now);
      if (rc == SQLITE_OK && keyed && i + 1 == req.payloads.size()) {
        rc = bind(insert, 5, req.idempotency_key);
        if (rc == SQLITE_OK)
          rc = bind(insert, 6, req.request_digest);
        if (rc == SQLITE_OK)
          rc = bind(insert, 7, req.response);
      }
      if (rc == SQLITE_OK)
        rc = bind(insert, 8, static_cast<int64_t>(req.tag));
      if (rc != SQLITE_OK)
        return rc;
      if (rc = sqlite3_step(insert); rc != SQLITE_DONE)
        return rc;
    }
    if (!req.snapshot.empty()) {
      auto* upsert = upsert_snapshot_.get();
      stmt_guard guard{upsert};
      auto rc = bind_all(upsert, req.stream, static_cast<int64_t>(seq),
                         req.snapshot, now);
      if (rc != SQLITE_OK)
        return rc;
      if (rc = sqlite3_step(upsert); rc != SQLITE_DONE)
        return rc;
    }
    result.emplace_back(seq);
  }
  return SQLITE_DONE;
}

int sqlite_journal::last_event(const std::string& stream, uint64_t& seq,
                               uint64_t& tag) {
  auto* stmt = last_event_.get();
  stmt_guard guard{stmt};
  if (auto rc = bind(stmt, 1, stream); rc != SQLITE_OK)
    return rc;
  auto rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    seq = 0;
    tag = 0;
    return SQLITE_DONE;
  }
  if (rc != SQLITE_ROW)
    return rc;
  seq = column_seq(stmt, 0);
  tag = static_cast<uint64_t>(sqlite3_column_int64(stmt, 1));
  return SQLITE_DONE;
}

// -- inspectors ---------------------------------------------------------------

namespace {

/// Keeps the reads of one call in one read transaction, so they all see the
/// same committed state even while another connection writes.
class read_transaction {
public:
  read_transaction(sqlite3* db, sqlite3_stmt* begin, sqlite3_stmt* end)
      : db_(db), end_(end) {
    rc_ = run(begin);
  }

  read_transaction(const read_transaction&) = delete;
  read_transaction& operator=(const read_transaction&) = delete;

  ~read_transaction() {
    if (!sqlite3_get_autocommit(db_))
      run(end_);
  }

  /// SQLITE_DONE when the transaction began.
  int rc() const noexcept { return rc_; }

private:
  sqlite3* db_;
  sqlite3_stmt* end_;
  int rc_;
};

} // namespace

caf::expected<journal_recovery>
sqlite_journal::recover(const std::string& stream, int64_t keys_since_ms) {
  read_transaction txn{db_.get(), begin_read_.get(), rollback_.get()};
  if (txn.rc() != SQLITE_DONE)
    return read_error(txn.rc(), "recover");
  journal_recovery result;
  {
    auto* stmt = select_snapshot_.get();
    stmt_guard guard{stmt};
    auto rc = bind(stmt, 1, stream);
    if (rc == SQLITE_OK)
      rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      result.snapshot_seq = column_seq(stmt, 0);
      result.snapshot = column_text(stmt, 1);
      // NULL (0) when the snapshot ends with no event.
      result.last_tag = static_cast<uint64_t>(sqlite3_column_int64(stmt, 2));
    } else if (rc != SQLITE_DONE) {
      return read_error(rc, "recover");
    }
  }
  if (auto rc = read_events(stream, result.snapshot_seq, result.events,
                            &result.last_tag);
      rc != SQLITE_DONE) {
    if (rc == gap_found)
      return make_error(journal_errc::corrupt,
                        "events of " + stream + " in " + path_ +
                            " have a gap after sequence number " +
                            std::to_string(result.snapshot_seq));
    return read_error(rc, "recover");
  }
  auto* stmt = select_keys_.get();
  stmt_guard guard{stmt};
  auto rc = bind_all(stmt, stream, keys_since_ms);
  if (rc != SQLITE_OK)
    return read_error(rc, "recover");
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
    result.idempotency.push_back(idempotency_record{
        column_text(stmt, 0), column_text(stmt, 1), column_text(stmt, 2),
        column_seq(stmt, 3), sqlite3_column_int64(stmt, 4)});
  if (rc != SQLITE_DONE)
    return read_error(rc, "recover");
  return result;
}

caf::expected<std::vector<journal_event>>
sqlite_journal::replay(const std::string& stream, uint64_t after_seq) {
  std::vector<journal_event> result;
  if (after_seq >= max_sql_int)
    return result;
  read_transaction txn{db_.get(), begin_read_.get(), rollback_.get()};
  if (txn.rc() != SQLITE_DONE)
    return read_error(txn.rc(), "replay");
  if (auto rc = read_events(stream, after_seq, result); rc != SQLITE_DONE) {
    if (rc == gap_found)
      return make_error(journal_errc::corrupt,
                        "events of " + stream + " in " + path_ +
                            " have a gap after sequence number " +
                            std::to_string(after_seq));
    return read_error(rc, "replay");
  }
  return result;
}

const char* sqlite_journal::name() const noexcept {
  return "sqlite";
}

int sqlite_journal::read_events(const std::string& stream, uint64_t after_seq,
                                std::vector<journal_event>& result,
                                uint64_t* last_tag) {
  auto* stmt = select_events_.get();
  stmt_guard guard{stmt};
  auto rc = bind_all(stmt, stream, static_cast<int64_t>(after_seq));
  if (rc != SQLITE_OK)
    return rc;
  // Sequence numbers are consecutive by construction; a gap means the file
  // was changed behind our back, and replaying around it would be wrong.
  auto next = after_seq + 1;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    auto seq = column_seq(stmt, 0);
    if (seq != next++)
      return gap_found;
    result.push_back(journal_event{seq, column_text(stmt, 1)});
    if (last_tag != nullptr)
      *last_tag = static_cast<uint64_t>(sqlite3_column_int64(stmt, 2));
  }
  return rc;
}

caf::error sqlite_journal::read_error(int rc, const char* what) const {
  auto primary = rc & 0xff;
  auto code = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB
                  ? journal_errc::corrupt
                  : journal_errc::unavailable;
  return make_error(code, std::string{"cannot "} + what + " from " + path_ +
                              ": " + describe(db_.get(), rc));
}

} // namespace cartd
