#pragma once

// The shared journal backend: PostgreSQL 15 through libpq, one schema per
// cartd deployment (default `cartd`). The tables, the statements and the
// schema version are described in docs/journal-format.md ("PostgreSQL").
//
// Every append_batch is one transaction sent in one round trip (libpq's
// pipeline mode: BEGIN, in cluster mode the fence (see journal_fence), one
// prepared statement per round of appends, COMMIT). Each
// statement checks the journal's one rule and inserts in one step, fenced by
// the (stream, seq) primary key, so any number of nodes may write the same
// database: of two appends extending one event, one stores its rows and the
// other nothing (journal_errc::conflict).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "runtime/journal/journal.hpp"

namespace cartd {

/// The cluster member a pg_journal writes as (cluster mode only). Every
/// append transaction first locks this member's row of the membership table
/// (`SELECT ... FOR KEY SHARE`, name and incarnation, lease not lapsed by the
/// database's clock) and stores nothing unless it is there: so once another
/// node removed this member (a DELETE, which waits for those locks), no
/// append of this incarnation can commit. The membership worker sets
/// `incarnation` at each join and 0 when the lease is lost; while it is 0
/// appends fail at once with journal_errc::fenced.
struct journal_fence {
  std::string member;
  std::atomic<uint64_t> incarnation{0};
};

/// How pg_journal::open reaches the database.
struct pg_options {
  /// Anything libpq accepts: `host=... port=... dbname=... user=...` or a
  /// `postgresql://` URI. Passwords come the libpq way (PGPASSWORD,
  /// ~/.pgpass, or here) and never appear in an error message.
  std::string conninfo;
  /// The schema holding the journal's tables, created when missing.
  std::string schema = "cartd";
  /// Bounds every connect (the first and each reconnect).
  caf::timespan connect_timeout = std::chrono::seconds{2};
  /// Null: appends are not fenced (one node). Otherwise every append checks
  /// it (see journal_fence).
  std::shared_ptr<const journal_fence> fence;
};

/// A journal_backend on PostgreSQL. Not thread-safe: one user (the journal
/// actor, on a thread of its own). Every failure is a value: a lost
/// connection answers journal_errc::unavailable (or unknown_outcome when it
/// was lost after COMMIT was sent and before its answer came) and the next
/// call connects again.
class pg_journal : public journal_backend {
public:
  /// The schema version this cartd creates and reads (table schema_version).
  static constexpr int schema_version = 3;

  /// Connects, creates the schema (tables and a version row, in one
  /// transaction that concurrent opens serialize on) when it is missing and
  /// checks its version. Fails with journal_errc::unavailable, naming host,
  /// port, dbname and schema and the cause (never a password), when the
  /// server is unreachable, the schema has a newer version or is not a
  /// cartd journal.
  static caf::expected<std::unique_ptr<pg_journal>> open(pg_options opts);

  pg_journal(const pg_journal&) = delete;
  pg_journal& operator=(const pg_journal&) = delete;

  ~pg_journal() override;

  // -- modifiers --------------------------------------------------------------

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override;

  std::vector<caf::expected<uint64_t>>
  append_batch_again(const std::vector<journal_append>& batch) override;

  // -- inspectors -------------------------------------------------------------

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override;

  caf::expected<std::vector<journal_event>> replay(const std::string& stream,
                                                   uint64_t after_seq) override;

  const char* name() const noexcept override;

  /// Another connection with the same options (reads in one REPEATABLE READ
  /// transaction each, so they see every commit that returned before).
  caf::expected<std::unique_ptr<journal_backend>> open_reader() override;

  /// "host=H port=P dbname=D schema=S", for messages (no password).
  const std::string& where() const noexcept { return where_; }

  /// Whether a connection is open now (false after a lost one, until the
  /// next call connects again).
  bool connected() const noexcept;

private:
  class connection;

  explicit pg_journal(pg_options opts);

  /// Connects and prepares the statements unless connected.
  caf::error ensure_connected();

  std::vector<caf::expected<uint64_t>>
  write(const std::vector<journal_append>& batch, bool again);

  pg_options opts_;
  std::string where_;
  std::unique_ptr<connection> conn_;
};

} // namespace cartd
