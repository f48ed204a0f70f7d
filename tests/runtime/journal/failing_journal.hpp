#pragma once

// A real memory journal whose commits can be made to fail, as a full or
// stalled disk would make them fail (journal_errc::unavailable, which the
// journal actor retries). Shared by the journal-actor and cart-actor tests.

#include <atomic>
#include <string>
#include <vector>

#include "runtime/journal/journal.hpp"
#include "runtime/journal/memory_journal.hpp"

namespace cartd::test {

class failing_journal : public journal_backend {
public:
  /// While set, every commit fails.
  std::atomic<bool> fail_commits{false};
  std::atomic<int> commits{0};
  std::atomic<int> failed_commits{0};

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override {
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

  const char* name() const noexcept override {
    return "failing";
  }

private:
  memory_journal store_;
};

} // namespace cartd::test
