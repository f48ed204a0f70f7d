#include "runtime/journal/journal_actor_impl.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd {

namespace {

struct journal_state {
  std::shared_ptr<journal_backend> backend;
  static inline const char* name = "cartd.journal";
};

journal_actor::behavior_type
journal_impl(journal_actor::stateful_pointer<journal_state> self,
             std::shared_ptr<journal_backend> backend) {
  self->state.backend = std::move(backend);
  return {
    [=](append_atom, const std::string& stream, uint64_t expected_seq,
        const journal_payloads& batch) -> caf::result<uint64_t> {
      auto result = self->state.backend->append(stream, expected_seq,
                                                batch.payloads);
      if (!result) {
        log().warn("journal append to {} failed: {}", stream,
                   self->system().render(result.error()));
        return std::move(result.error());
      }
      return *result;
    },
    [=](replay_atom, const std::string& stream,
        uint64_t after_seq) -> caf::result<journal_events> {
      auto result = self->state.backend->replay(stream, after_seq);
      if (!result) {
        log().warn("journal replay of {} failed: {}", stream,
                   self->system().render(result.error()));
        return std::move(result.error());
      }
      return journal_events{std::move(*result)};
    },
  };
}

} // namespace

journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend) {
  return parent->spawn(journal_impl, std::move(backend));
}

} // namespace cartd
