#pragma once

// Direct access to a node's SQLite journal file, for the end-to-end tests
// that check or disturb it from outside the process (integrity after a
// kill, a held write lock that delays commits, a query of what is stored).

#include <string>

struct sqlite3;

namespace cartd::test {

/// `PRAGMA integrity_check` of a database no process has open, joined
/// ("ok" when intact).
std::string integrity_check(const std::string& db_path);

/// Runs `sql` on the database at `db_path` (created if missing); returns
/// the error message, empty on success.
std::string exec_sql(const std::string& db_path, const std::string& sql);

/// The first column of the first row of `sql` as text ("" if none).
std::string query_text(const std::string& db_path, const std::string& sql);

/// Holds SQLite's write lock on a journal file (BEGIN EXCLUSIVE, which in
/// WAL mode blocks writers but not readers) until released.
class journal_write_lock {
public:
  /// Waits up to 10 s for a commit in progress to end.
  explicit journal_write_lock(const std::string& db_path);

  journal_write_lock(const journal_write_lock&) = delete;
  journal_write_lock& operator=(const journal_write_lock&) = delete;

  ~journal_write_lock();

  /// Empty once the lock is held, else why not.
  const std::string& error() const noexcept { return error_; }

  /// Ends the (empty) transaction; returns the error, empty on success.
  std::string release();

private:
  std::string exec(const char* sql);

  sqlite3* db_ = nullptr;
  bool held_ = false;
  std::string error_;
};

} // namespace cartd::test
