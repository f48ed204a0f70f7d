#pragma once

// An in-memory journal backend: for tests and `--storage.backend=memory`.
// Nothing survives the process.

#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/journal/journal.hpp"

namespace cartd {

class memory_journal : public journal_backend {
public:
  // -- modifiers --------------------------------------------------------------

  std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) override;

  // -- inspectors -------------------------------------------------------------

  caf::expected<journal_recovery> recover(const std::string& stream,
                                          int64_t keys_since_ms) override;

  caf::expected<std::vector<journal_event>> replay(const std::string& stream,
                                                   uint64_t after_seq) override;

  const char* name() const noexcept override;

  bool blocks() const noexcept override;

private:
  struct stream_data {
    // The event at index i has sequence number i + 1.
    std::vector<std::string> events;
    // The last event's tag: the only one the rule and recover look at.
    uint64_t last_tag = 0;
    uint64_t snapshot_seq = 0;
    std::string snapshot;
    std::vector<idempotency_record> idempotency;
  };

  std::unordered_map<std::string, stream_data> streams_;
};

} // namespace cartd
