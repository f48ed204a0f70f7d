#pragma once

// An exclusive lock on a journal directory, so that one process at a time
// writes a SQLite journal: two nodes on one storage path would each serve
// their own copies of the same carts (stale reads, 503s on conflicts).
//
//   auto lock = directory_lock::acquire("/var/lib/cartd");
//   if (!lock) ... // "... is in use by process 1234 ..."
//
// flock(2) on `<dir>/cartd.lock`: the kernel releases it when the holder's
// descriptor closes, also when the process is killed (-9) or crashes, so a
// lock left behind never blocks the next start. The file holds the
// holder's pid, for the message of the one refused. Per open file, so a
// second acquire in the same process fails too.

#include <string>

#include <caf/expected.hpp>

namespace cartd {

class directory_lock {
public:
  /// The lock file's name inside the directory.
  static constexpr const char* file_name = "cartd.lock";

  /// Takes the lock on `dir` (which must exist) without waiting. Fails with
  /// journal_errc::unavailable naming the directory and, when another
  /// process holds it, that process's pid; or the cause when the lock file
  /// cannot be created.
  static caf::expected<directory_lock> acquire(const std::string& dir);

  directory_lock() = default;
  directory_lock(directory_lock&& other) noexcept;
  directory_lock& operator=(directory_lock&& other) noexcept;
  directory_lock(const directory_lock&) = delete;
  directory_lock& operator=(const directory_lock&) = delete;

  /// Releases the lock (the file stays: removing it would race with the
  /// next holder).
  ~directory_lock();

  /// Whether this object holds a lock.
  bool held() const noexcept { return fd_ >= 0; }

private:
  explicit directory_lock(int fd) : fd_(fd) {}

  int fd_ = -1;
};

} // namespace cartd
