#include "runtime/journal/memory_journal.hpp"

namespace cartd {

std::vector<caf::expected<uint64_t>>
memory_journal::append_batch(const std::vector<journal_append>& batch) {
  std::vector<caf::expected<uint64_t>> result;
  result.reserve(batch.size());
  auto now = journal_now_ms();
  for (auto& req : batch) {
    auto& data = streams_[req.stream];
    auto& events = data.events;
    // The one rule (journal_backend::append_batch).
    if (events.size() != req.expected_seq ||
        (req.expected_seq > 0 && data.last_tag != req.expected_tag)) {
      result.emplace_back(
          make_error(journal_errc::conflict,
                     req.stream + " is at " + std::to_string(events.size())));
      continue;
    }
    events.insert(events.end(), req.payloads.begin(), req.payloads.end());
    if (!req.payloads.empty())
      data.last_tag = req.tag;
    uint64_t last = data.events.size();
    if (!req.idempotency_key.empty())
      data.idempotency.push_back(idempotency_record{
          req.idempotency_key, req.request_digest, req.response, last, now});
    if (!req.snapshot.empty()) {
      data.snapshot_seq = last;
      data.snapshot = req.snapshot;
    }
    result.emplace_back(last);
  }
  return result;
}

caf::expected<journal_recovery>
memory_journal::recover(const std::string& stream, int64_t keys_since_ms) {
  journal_recovery result;
  auto i = streams_.find(stream);
  if (i == streams_.end())
    return result;
  auto& data = i->second;
  result.snapshot_seq = data.snapshot_seq;
  result.snapshot = data.snapshot;
  for (auto seq = data.snapshot_seq + 1; seq <= data.events.size(); ++seq)
    result.events.push_back(journal_event{seq, data.events[seq - 1]});
  result.last_tag = data.last_tag;
  for (auto& record : data.idempotency)
    if (record.recorded_at_ms >= keys_since_ms)
      result.idempotency.push_back(record);
  return result;
}

caf::expected<std::vector<journal_event>>
memory_journal::replay(const std::string& stream, uint64_t after_seq) {
  std::vector<journal_event> result;
  auto i = streams_.find(stream);
  if (i == streams_.end())
    return result;
  auto& events = i->second.events;
  for (auto seq = after_seq + 1; seq <= events.size(); ++seq)
    result.push_back(journal_event{seq, events[seq - 1]});
  return result;
}

const char* memory_journal::name() const noexcept {
  return "memory";
}

bool memory_journal::blocks() const noexcept {
  return false;
}

} // namespace cartd
