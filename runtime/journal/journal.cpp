#include "runtime/journal/journal.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

namespace cartd {

const char* to_string(journal_errc x) noexcept {
  switch (x) {
  case journal_errc::none:
    return "none";
  case journal_errc::conflict:
    return "conflict";
  case journal_errc::unavailable:
    return "unavailable";
  case journal_errc::corrupt:
    return "corrupt";
  case journal_errc::unknown_outcome:
    return "unknown_outcome";
  case journal_errc::fenced:
    return "fenced";
  }
  return "unknown";
}

caf::error make_error(journal_errc x, std::string context) {
  return {static_cast<uint8_t>(x), caf::atom("journal"),
          caf::make_message(std::move(context))};
}

void add_journal_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("journal"), [](uint8_t code, caf::atom_value,
                                                  const caf::message& context) {
    return std::string{"journal_error("} +
           to_string(static_cast<journal_errc>(code)) + ", " +
           to_string(context) + ")";
  });
}

journal_backend::~journal_backend() {
  // nop
}

caf::expected<uint64_t>
journal_backend::append(const std::string& stream, uint64_t expected_seq,
                        std::vector<std::string> payloads) {
  std::vector<journal_append> batch(1);
  batch[0].stream = stream;
  batch[0].expected_seq = expected_seq;
  batch[0].payloads = std::move(payloads);
  return std::move(append_batch(batch).front());
}

std::vector<caf::expected<uint64_t>>
journal_backend::append_batch_again(const std::vector<journal_append>& batch) {
  return append_batch(batch);
}

caf::expected<std::unique_ptr<journal_backend>> journal_backend::open_reader() {
  return std::unique_ptr<journal_backend>{};
}

int64_t journal_now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

} // namespace cartd
