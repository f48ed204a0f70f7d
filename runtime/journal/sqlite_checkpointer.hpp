#pragma once

// Copies a SQLite journal's WAL back into the database file on a thread of
// its own, so that the journal's writer never waits for it.
//
// SQLite's automatic checkpoint runs inside the commit that crosses
// `wal_autocheckpoint`: it copies every page in the WAL into the database and
// fsyncs the file, and every write behind that commit waits for all of it.
// Here the writer (sqlite_journal) only asks for a pass; the pass runs on
// this thread's own connection (a PASSIVE checkpoint, which never blocks the
// writer), and the writer finishes the job with a pass of its own once what
// is left is small. SQLite reuses the
// WAL from its start only after a pass that caught up with the writer, which
// a background pass racing a busy writer never does: that last short pass is
// what keeps the WAL bounded.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <caf/expected.hpp>

struct sqlite3;

namespace cartd {

class sqlite_checkpointer {
public:
  /// What one checkpoint pass saw: the WAL's length and how much of it is in
  /// the database now, in frames (pages).
  struct pass {
    int wal_frames = 0;
    int backfilled = 0;
  };

  /// Opens a connection of its own to the WAL database `path`, with the
  /// given `PRAGMA synchronous` statement (a checkpoint fsyncs by it) and
  /// busy timeout, and starts the thread.
  static caf::expected<std::unique_ptr<sqlite_checkpointer>>
  start(const std::string& path, const std::string& sync_pragma,
        int busy_timeout_ms);

  sqlite_checkpointer(const sqlite_checkpointer&) = delete;
  sqlite_checkpointer& operator=(const sqlite_checkpointer&) = delete;

  /// Waits for a running pass, then closes the connection.
  ~sqlite_checkpointer();

  /// Starts a pass. Returns false (and does nothing) while one is running.
  bool request();

  /// The result of the pass that finished since the last call, if any.
  std::optional<pass> take_finished();

  /// Blocks until no pass is running or requested.
  void wait_idle();

private:
  sqlite_checkpointer(std::string path, sqlite3* db);

  void run();

  std::string path_;
  sqlite3* db_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  bool requested_ = false;
  bool running_ = false;
  bool stopping_ = false;
  std::optional<pass> finished_;
  std::chrono::steady_clock::time_point last_warning_{};
  std::thread thread_;
};

} // namespace cartd
