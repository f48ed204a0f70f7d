#include "runtime/journal/memory_journal.hpp"

namespace cartd {

caf::expected<uint64_t>
memory_journal::append(const std::string& stream, uint64_t expected_seq,
                       const std::vector<std::string>& payloads) {
  auto& events = streams_[stream];
  if (events.size() != expected_seq)
    return make_error(journal_errc::conflict,
                      stream + " is at " + std::to_string(events.size()));
  events.insert(events.end(), payloads.begin(), payloads.end());
  return events.size();
}

caf::expected<std::vector<journal_event>>
memory_journal::replay(const std::string& stream, uint64_t after_seq) {
  std::vector<journal_event> result;
  auto i = streams_.find(stream);
  if (i == streams_.end())
    return result;
  auto& events = i->second;
  for (auto seq = after_seq + 1; seq <= events.size(); ++seq)
    result.push_back(journal_event{seq, events[seq - 1]});
  return result;
}

const char* memory_journal::name() const noexcept {
  return "memory";
}

} // namespace cartd
