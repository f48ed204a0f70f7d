// caf_shims.hpp, section "supervisor timers" (runtime/supervision).

#include "runtime/core/caf_shims.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/type_erased_tuple.hpp>

namespace cartd::caf_shims {

void send_self_timer(caf::event_based_actor* self, caf::timespan delay,
                     caf::atom_value tag, uint64_t arg) {
  self->delayed_send(self, delay, tag, arg);
}

caf::optional<self_timer> read_self_timer(caf::scheduled_actor* self,
                                          caf::message_view& msg) {
  auto& sender = self->current_sender();
  if (sender == nullptr || sender->get() != self)
    return caf::none;
  auto& xs = msg.content();
  if (!xs.match_elements<caf::atom_value, uint64_t>())
    return caf::none;
  return self_timer{xs.get_as<caf::atom_value>(0), xs.get_as<uint64_t>(1)};
}

} // namespace cartd::caf_shims
