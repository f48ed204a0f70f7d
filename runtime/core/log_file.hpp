#pragma once

// A log file that can be opened again under its name: after logrotate
// renamed it (SIGHUP), the lines go to a new file of that name while nothing
// written before is lost or written twice.
//
//   auto file = log_file::open("/var/log/cartd/access.log", problem);
//   line_writer writer{file->output(), settings};
//   ...
//   auto problem = file->reopen(); // on SIGHUP, from any thread

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "runtime/core/line_writer.hpp"

namespace cartd {

class log_file : public std::enable_shared_from_this<log_file> {
public:
  /// Opens `path` for appending (created with mode 0644 if missing). Returns
  /// null and describes the problem in `problem` when it cannot.
  static std::shared_ptr<log_file> open(std::string path, std::string& problem);

  ~log_file();

  log_file(const log_file&) = delete;
  log_file& operator=(const log_file&) = delete;

  /// The name the file is opened under.
  const std::string& path() const noexcept { return path_; }

  /// Opens path() again and writes there from now on; the old descriptor is
  /// closed once no write uses it. When path() cannot be opened, keeps
  /// writing to the file opened before and returns why (else an empty
  /// string). Thread-safe.
  std::string reopen();

  /// Appends `run` (whole lines), retrying short writes; a write error drops
  /// the rest of the run. Thread-safe.
  void write(std::string_view run);

  /// An output for line_writer that writes here (and keeps this alive).
  line_writer::output output();

private:
  log_file(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  /// Held for a write and for swapping the descriptor: a reopen never
  /// closes the descriptor under a write in progress.
  std::mutex mtx_;
  int fd_;
};

} // namespace cartd
