#include "runtime/journal/sqlite_checkpointer.hpp"

#include <pthread.h>

#include <chrono>
#include <utility>

#include <sqlite3.h>

#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd {

caf::expected<std::unique_ptr<sqlite_checkpointer>>
sqlite_checkpointer::start(const std::string& path,
                           const std::string& sync_pragma,
                           int busy_timeout_ms) {
  sqlite3* db = nullptr;
  auto rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, busy_timeout_ms);
    rc = sqlite3_exec(db, sync_pragma.c_str(), nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    auto err = make_error(journal_errc::unavailable,
                          "cannot open a checkpoint connection to " + path +
                              ": " + sqlite3_errmsg(db));
    sqlite3_close_v2(db);
    return err;
  }
  std::unique_ptr<sqlite_checkpointer> result{
      new sqlite_checkpointer(path, db)};
  result->thread_ = std::thread{[ptr = result.get()] { ptr->run(); }};
  return result;
}

sqlite_checkpointer::sqlite_checkpointer(std::string path, sqlite3* db)
    : path_(std::move(path)), db_(db) {
  // nop
}

sqlite_checkpointer::~sqlite_checkpointer() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
  // Not the last connection (the writer's closes after this one), so this
  // leaves the WAL alone.
  sqlite3_close_v2(db_);
}

bool sqlite_checkpointer::request() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (running_ || requested_)
      return false;
    requested_ = true;
    finished_.reset();
  }
  cv_.notify_one();
  return true;
}

std::optional<sqlite_checkpointer::pass> sqlite_checkpointer::take_finished() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (running_ || requested_)
    return std::nullopt;
  return std::exchange(finished_, std::nullopt);
}

void sqlite_checkpointer::wait_idle() {
  std::unique_lock<std::mutex> guard{mtx_};
  idle_cv_.wait(guard, [this] { return !running_ && !requested_; });
}

void sqlite_checkpointer::run() {
  pthread_setname_np(pthread_self(), "cartd.ckpt");
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    cv_.wait(guard, [this] { return requested_ || stopping_; });
    if (stopping_)
      return;
    requested_ = false;
    running_ = true;
    guard.unlock();
    pass result;
    auto rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                        &result.wal_frames, &result.backfilled);
    auto failed = rc != SQLITE_OK && rc != SQLITE_BUSY;
    auto now = std::chrono::steady_clock::now();
    if (failed && now - last_warning_ >= std::chrono::seconds{10}) {
      // The writer asks again after its next commits: warn now and then.
      last_warning_ = now;
      log().warn("journal checkpoint of {} failed: {}", path_,
                 sqlite3_errmsg(db_));
    }
    guard.lock();
    running_ = false;
    if (rc == SQLITE_OK)
      finished_ = result;
    idle_cv_.notify_all();
  }
}

} // namespace cartd
