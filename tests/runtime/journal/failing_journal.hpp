#pragma once

// A real memory journal whose commits can be made to fail, as a full or
// stalled disk would make them fail (journal_errc::unavailable, which the
// journal actor retries). Shared by the journal-actor and cart-actor tests.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "runtime/journal/journal.hpp"
#include "runtime/journal/memory_journal.hpp"

namespace cartd::test {

class failing_journal : public journal_backend {
public:
  /// While set, every commit fails.
  std::atomic<bool> fail_commits{false};
  /// While set, a commit waits (a slow fsync); it then fails or succeeds
  /// as fail_commits says at that moment.
  std::atomic<bool> hold_commits{false};
  /// Set once a commit waits for hold_commits.
  std::atomic<bool> holding{false};
  std::atomic<int> commits{0};
  std::atomic<int> failed_commits{0};
  /// The most appends one commit (failed or not) carried.
  std::atomic<size_t> largest_batch{0};
  /// What blocks() says: false lets the journal actor run on the scheduler
  /// (CAF's test_coordinator runs no detached actor). Set before spawning.
  bool blocking = true;

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override {
    while (hold_commits) {
      holding = true;
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
    holding = false;
    auto largest = largest_batch.load();
    while (batch.size() > largest &&
           !largest_batch.compare_exchange_weak(largest, batch.size())) {
      // retry with the value another thread stored
    }
    if (fail_commits) {
      ++failed_commits;
      return std::vector<caf::expected<uint64_t>>(
          batch.size(), make_error(journal_errc::unavailable, "disk stalled"));
    }
    ++commits;
    return store_.append_batch(batch);
  }

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override {
    return store_.recover(stream, keys_since_ms);
  }

  caf::expected<std::vector<journal_event>>
  replay(const std::string& stream, uint64_t after_seq) override {
    return store_.replay(stream, after_seq);
  }

  const char* name() const noexcept override { return "failing"; }

  bool blocks() const noexcept override { return blocking; }

private:
  memory_journal store_;
};

} // namespace cartd::test
