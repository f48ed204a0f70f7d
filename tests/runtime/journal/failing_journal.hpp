#pragma once

// A real memory journal whose commits can be made to fail, as a full or
// stalled disk would make them fail (journal_errc::unavailable, which the
// journal actor retries), or end with an unknown outcome, as a connection
// lost during COMMIT would (journal_errc::unknown_outcome, stored or not).
// It can open readers over the same store (journal_backend::open_reader),
// whose reads can be made to fail. Shared by the journal-actor and
// cart-actor tests; thread-safe, so that it can run under a real journal
// actor (writer and readers on threads of their own).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/journal/journal.hpp"
#include "runtime/journal/memory_journal.hpp"

namespace cartd::test {

class failing_journal : public journal_backend,
                        public std::enable_shared_from_this<failing_journal> {
public:
  /// While set, every commit fails (unavailable; nothing is stored).
  std::atomic<bool> fail_commits{false};
  /// While set (and fail_commits is not), every commit answers
  /// unknown_outcome for all its appends, after storing them if
  /// store_unknown is set (the COMMIT went through, its answer was lost).
  std::atomic<bool> unknown_outcomes{false};
  std::atomic<bool> store_unknown{true};
  /// While set, a commit stores its batch and answers one result short (a
  /// backend breaking its contract).
  std::atomic<bool> answer_short{false};
  /// While set, a commit waits (a slow fsync); it then fails or succeeds
  /// as the flags say at that moment. Only with blocking (a real thread).
  std::atomic<bool> hold_commits{false};
  /// Set once a commit waits for hold_commits.
  std::atomic<bool> holding{false};
  /// Commits that stored their batch and answered so (append_batch or
  /// append_batch_again).
  std::atomic<int> commits{0};
  std::atomic<int> failed_commits{0};
  /// Commits answered unknown_outcome.
  std::atomic<int> unknown_commits{0};
  /// Calls of append_batch_again (a retry after unknown_outcome).
  std::atomic<int> commits_again{0};
  /// The most appends one commit (failed or not) carried.
  std::atomic<size_t> largest_batch{0};
  /// While set, every read (writer or reader) fails (unavailable).
  std::atomic<bool> fail_reads{false};
  /// Reads served by this object, and by the readers it opened.
  std::atomic<int> reads_on_writer{0};
  std::atomic<int> reads_on_readers{0};
  /// What blocks() says: false lets the journal actor run on the scheduler
  /// (CAF's test_coordinator runs no detached actor). Set before spawning.
  bool blocking = true;
  /// Whether open_reader opens readers (false: nullptr, reads run on the
  /// writer). Needs the object to be owned by a shared_ptr. Set before
  /// spawning.
  bool readers = false;
  /// Readers opened so far.
  std::atomic<int> readers_opened{0};

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override {
    return commit(batch, false);
  }

  std::vector<caf::expected<uint64_t>>
  append_batch_again(const std::vector<journal_append>& batch) override {
    ++commits_again;
    return commit(batch, true);
  }

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override {
    ++reads_on_writer;
    return read(stream, keys_since_ms);
  }

  caf::expected<std::vector<journal_event>>
  replay(const std::string& stream, uint64_t after_seq) override {
    std::lock_guard<std::mutex> guard{mtx_};
    return store_.replay(stream, after_seq);
  }

  const char* name() const noexcept override { return "failing"; }

  bool blocks() const noexcept override { return blocking; }

  caf::expected<std::unique_ptr<journal_backend>> open_reader() override {
    if (!readers)
      return std::unique_ptr<journal_backend>{};
    ++readers_opened;
    return std::unique_ptr<journal_backend>{new reader{shared_from_this()}};
  }

private:
  /// A reader: reads the same store (as another connection would).
  class reader : public journal_backend {
  public:
    explicit reader(std::shared_ptr<failing_journal> parent)
        : parent_(std::move(parent)) {
      // nop
    }

    std::vector<caf::expected<uint64_t>>
    append_batch(const std::vector<journal_append>& batch) override {
      // Never called (journal_backend::open_reader).
      return std::vector<caf::expected<uint64_t>>(
          batch.size(), make_error(journal_errc::unavailable, "a reader"));
    }

    caf::expected<journal_recovery> recover(const std::string& stream,
                                            int64_t keys_since_ms) override {
      ++parent_->reads_on_readers;
      return parent_->read(stream, keys_since_ms);
    }

    caf::expected<std::vector<journal_event>>
    replay(const std::string& stream, uint64_t after_seq) override {
      return parent_->replay(stream, after_seq);
    }

    const char* name() const noexcept override { return "failing reader"; }

    bool blocks() const noexcept override { return parent_->blocking; }

  private:
    std::shared_ptr<failing_journal> parent_;
  };

  caf::expected<journal_recovery> read(const std::string& stream,
                                       int64_t keys_since_ms) {
    if (fail_reads)
      return make_error(journal_errc::unavailable, "connection lost");
    std::lock_guard<std::mutex> guard{mtx_};
    return store_.recover(stream, keys_since_ms);
  }

  std::vector<caf::expected<uint64_t>>
  commit(const std::vector<journal_append>& batch, bool again) {
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
    bool unknown = unknown_outcomes;
    if (!unknown || store_unknown) {
      auto results = store(batch, again);
      if (!unknown) {
        ++commits;
        if (answer_short && !results.empty())
          results.pop_back();
        return results;
      }
    }
    ++unknown_commits;
    return std::vector<caf::expected<uint64_t>>(
        batch.size(),
        make_error(journal_errc::unknown_outcome, "connection lost in COMMIT"));
  }

  // Applies `batch` to the store. Again: a request whose first event is
  // already stored under its (non-zero) tag is answered as stored
  // (journal_backend::append_batch_again).
  std::vector<caf::expected<uint64_t>>
  store(const std::vector<journal_append>& batch, bool again) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<caf::expected<uint64_t>> results;
    results.reserve(batch.size());
    for (auto& req : batch) {
      if (again && req.tag != 0) {
        auto i = tags_.find({req.stream, req.expected_seq + 1});
        if (i != tags_.end() && i->second == req.tag) {
          results.emplace_back(req.expected_seq + req.payloads.size());
          continue;
        }
      }
      auto result = std::move(store_.append_batch({req}).front());
      if (result)
        for (auto seq = req.expected_seq + 1; seq <= *result; ++seq)
          tags_[{req.stream, seq}] = req.tag;
      results.push_back(std::move(result));
    }
    return results;
  }

  std::mutex mtx_;
  memory_journal store_;
  /// The tag of every event stored, by (stream, seq).
  std::map<std::pair<std::string, uint64_t>, uint64_t> tags_;
};

} // namespace cartd::test
