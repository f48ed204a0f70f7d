#pragma once

// The durable journal backend: one SQLite database per node, `<dir>/cartd.db`,
// in WAL mode. The file format (schema, user_version 2) is described in
// docs/journal-format.md; tests/runtime/journal/fixtures holds a database
// written by each version. A version 1 database is upgraded on open.
//
// Every append_batch is one write transaction (BEGIN IMMEDIATE ... COMMIT), so
// a batch is stored whole or not at all, and two nodes (or two objects) on
// the same file cannot both extend one stream: the second transaction sees
// the first one's events and gets journal_errc::conflict.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "runtime/journal/directory_lock.hpp"
#include "runtime/journal/journal.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace cartd {

class sqlite_checkpointer;

/// How sqlite_journal::open configures the database connection.
struct sqlite_options {
  /// `PRAGMA synchronous`: "full" (fsync every commit: acknowledged means
  /// durable), "normal" (durable at the next checkpoint; a power loss may drop
  /// the latest commits) or "off" (no fsync at all).
  std::string sync = "full";
  /// How long a write waits for another connection's lock before the batch
  /// fails with journal_errc::unavailable.
  caf::timespan busy_timeout = caf::timespan{std::chrono::seconds{5}};
  /// Caps the database at this many pages (`PRAGMA max_page_count`); a commit
  /// beyond it fails as on a full disk. 0: unlimited.
  int64_t max_page_count = 0;
  /// SQLite's page cache for this connection, in MiB (`PRAGMA cache_size`).
  /// SQLite's own default (2 MiB) made every other append read a page of the
  /// key index back from the OS once the journal outgrew it.
  int64_t cache_mib = 64;
  /// The WAL is copied back into the database (checkpointed) when a commit
  /// leaves it at least this many pages long (see background_checkpoints).
  /// A checkpoint writes each page once however often commits changed it, so
  /// a longer WAL means fewer page writes and fsyncs per append; the WAL file
  /// grows to about this many pages (4 KiB each) and is then reused. SQLite's
  /// default is 1,000.
  int64_t checkpoint_pages = 16384;
  /// Checkpoint on a thread of its own (sqlite_checkpointer.hpp): the commit
  /// that crosses `checkpoint_pages` only asks for a pass, and the writer
  /// copies just the last few pages itself. false: SQLite's automatic
  /// checkpoint, which copies the whole WAL inside that commit.
  bool background_checkpoints = true;
  /// Hold `<dir>/cartd.lock` (directory_lock.hpp) while open: another
  /// process's open of the directory fails, naming this one. false: the
  /// file may have writers in other processes too (the tests of the
  /// journal's own conflict rules).
  bool exclusive = true;
};

/// A journal_backend on SQLite. Not thread-safe: one user (the journal
/// actor, on a thread of its own). Every failure is a value: a failed commit
/// rolls back and answers journal_errc::unavailable for the whole batch.
class sqlite_journal : public journal_backend {
public:
  /// The file format this version writes (`PRAGMA user_version`).
  static constexpr int format_version = 2;

  /// The database file's name inside the journal directory.
  static constexpr const char* file_name = "cartd.db";

  /// Opens (or creates) `<dir>/cartd.db`, creating `dir` and its parents when
  /// missing, creates the schema when the database is new and upgrades a
  /// version 1 database to version 2 (one transaction). Fails with
  /// journal_errc::unavailable, naming the path and the cause, when the
  /// directory or file cannot be created or opened, the file is not a
  /// database or not a cartd journal, or it has a newer format version.
  static caf::expected<std::unique_ptr<sqlite_journal>>
  open(const std::string& dir, sqlite_options opts = {});

  sqlite_journal(const sqlite_journal&) = delete;
  sqlite_journal& operator=(const sqlite_journal&) = delete;

  ~sqlite_journal() override;

  // -- modifiers --------------------------------------------------------------

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override;

  // -- inspectors -------------------------------------------------------------

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override;

  caf::expected<std::vector<journal_event>> replay(const std::string& stream,
                                                   uint64_t after_seq) override;

  const char* name() const noexcept override;

  /// The path of the database file.
  const std::string& path() const noexcept { return path_; }

private:
  struct db_closer {
    void operator()(sqlite3* db) const noexcept;
  };

  struct stmt_finalizer {
    void operator()(sqlite3_stmt* stmt) const noexcept;
  };

  using db_ptr = std::unique_ptr<sqlite3, db_closer>;

  using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

  sqlite_journal(std::string path, db_ptr db);

  /// Prepares every statement once; they are reused for the connection's life.
  caf::error prepare_statements();

  /// Runs the body of a write transaction. Returns the result of each request
  /// or a SQLite result code when any step failed.
  int write_batch(const std::vector<journal_append>& batch, int64_t now,
                  std::vector<caf::expected<uint64_t>>& result);

  /// Reads the stream's last sequence number and that event's tag (both 0
  /// when it has no events).
  int last_event(const std::string& stream, uint64_t& seq, uint64_t& tag);

  /// Reads the events after `after_seq`; sets `*last_tag` to the tag of the
  /// last one read, if any.
  int read_events(const std::string& stream, uint64_t after_seq,
                  std::vector<journal_event>& result,
                  uint64_t* last_tag = nullptr);

  /// With background checkpoints: after each commit, asks for a pass once
  /// the WAL is `checkpoint_pages_` long, and after a pass runs the last
  /// short one itself (see sqlite_checkpointer.hpp).
  void after_commit();

  /// SQLite's WAL hook: the WAL's length after each commit.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema,
                           int frames);

  caf::error read_error(int rc, const char* what) const;

  std::string path_;

  // Released after the database closed (members are destroyed in reverse).
  directory_lock lock_;

  // Declared before the statements so it is destroyed after them.
  db_ptr db_;

  stmt_ptr begin_read_;
  stmt_ptr begin_write_;
  stmt_ptr commit_;
  stmt_ptr rollback_;
  stmt_ptr last_event_;
  stmt_ptr insert_event_;
  stmt_ptr upsert_snapshot_;
  stmt_ptr select_snapshot_;
  stmt_ptr select_events_;
  stmt_ptr select_keys_;

  int64_t checkpoint_pages_ = 0;
  /// Frames in the WAL after the last commit (from the WAL hook).
  int wal_frames_ = 0;
  /// Counts the times SQLite started the WAL over; a pass result from an
  /// earlier generation describes a WAL that no longer exists.
  uint64_t wal_generation_ = 0;
  uint64_t requested_generation_ = 0;
  /// Declared last so it is destroyed first: db_ must be the last
  /// connection to close (that one checkpoints and removes the WAL).
  std::unique_ptr<sqlite_checkpointer> checkpointer_;
};

} // namespace cartd
