#pragma once

// The journal's actor interface. Carts talk to the journal only through this
// handle; which backend sits behind it is the node's choice.
//
//   (append_atom, journal_append) -> uint64_t last_seq
//       answered only once the append is committed (and durable, as far as
//       the backend is); errors: journal_errc::conflict,
//       journal_errc::unavailable. A writer may send appends to a stream
//       before the earlier ones are answered; once one fails, the writer's
//       later appends to that stream with a larger expected_seq fail with
//       conflict (they were decided on a state that does not exist), until
//       it sends one at or below the failed one's expected_seq. A writer
//       that learns of a conflict starts over as a new actor (a cart
//       restarts and recovers).
//   (recover_atom, stream, keys_since_ms) -> journal_recovery
//       errors: journal_errc::unavailable, journal_errc::corrupt

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "runtime/core/type_ids.hpp"

namespace cartd {

using journal_actor = caf::typed_actor<
  caf::replies_to<append_atom, journal_append>::with<uint64_t>,
  caf::replies_to<recover_atom, std::string, int64_t>::with<journal_recovery>>;

} // namespace cartd
