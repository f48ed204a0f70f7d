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

  caf::expected<uint64_t> append(const std::string& stream,
                                 uint64_t expected_seq,
                                 const std::vector<std::string>& payloads)
    override;

  // -- inspectors -------------------------------------------------------------

  caf::expected<std::vector<journal_event>>
  replay(const std::string& stream, uint64_t after_seq) override;

  const char* name() const noexcept override;

private:
  // Events of a stream; the event at index i has sequence number i + 1.
  std::unordered_map<std::string, std::vector<std::string>> streams_;
};

} // namespace cartd
