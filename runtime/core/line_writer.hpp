#pragma once

// Lines written off the caller's thread (the access log's: the caller is the
// HTTP server's broker, which must never wait for a disk or a pipe).
//
// The caller appends a line to a bounded buffer under a mutex held only for
// that append (no allocation: both buffers are reserved up front); a thread
// of the writer's own swaps the buffer for an empty one every
// `flush_every`, or as soon as it is half full, and writes it out. When the
// buffer is full because the output is slower than the lines (a full pipe,
// a stalled disk), the line is dropped and counted: the caller never waits
// for the output.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace cartd {

class line_writer {
public:
  /// Receives a run of whole lines, on the writer's thread.
  using output = std::function<void(std::string_view)>;

  struct settings {
    /// Most bytes buffered while a run is being written (the same again is
    /// in the writer's hands).
    size_t capacity = 1 << 20;
    /// Longest time a line waits in the buffer.
    std::chrono::milliseconds flush_every{100};
  };

  line_writer(output out, settings cfg);

  /// Writes what is buffered, then stops the thread.
  ~line_writer();

  line_writer(const line_writer&) = delete;
  line_writer& operator=(const line_writer&) = delete;

  /// Buffers `line` (which ends with '\n', or is any record the output
  /// reads: the access log's are binary). Returns false, and counts it,
  /// when the buffer has no room for it. Never cut: a run holds whole
  /// writes.
  bool write(std::string_view line);

  /// Lines dropped so far.
  uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }

  /// An output that writes to the file descriptor `fd` (retrying short
  /// writes; a write error drops the rest of the run), and closes it on
  /// destruction when `owned`.
  static output to_fd(int fd, bool owned);

private:
  void run();

  output out_;
  settings cfg_;
  std::mutex mtx_;
  std::condition_variable wake_;
  std::string front_;
  bool stopping_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

} // namespace cartd
