#pragma once

// The journal's actor interface. Carts talk to the journal only through this
// handle; which backend sits behind it is the node's choice.
//
//   (append_atom, journal_append) -> uint64_t last_seq
//       answered only once the append is committed (and durable, as far as
//       the backend is); errors: journal_errc::conflict,
//       journal_errc::unavailable (nothing stored),
//       journal_errc::unknown_outcome (it may be stored). The one rule: the
//       append lands iff the stream's last event is expected_seq and (unless
//       expected_seq is 0) carries expected_tag; each of its events is stored
//       with its tag. Appends are judged in the order they arrive, so a writer
//       may send appends to a stream before the earlier ones are answered: each
//       one it sends ahead expects its own tag, so once one fails, the ones
//       behind it fail too instead of landing on another writer's event. A
//       writer that learns of a conflict starts over as a new actor (a cart
//       restarts and recovers).
//   (recover_atom, stream, keys_since_ms) -> journal_recovery
//       answered after every append to the stream that arrived before it;
//       last_tag is the tag of the stream's last event, to expect in the
//       first append after recovery. Errors: journal_errc::unavailable,
//       journal_errc::corrupt

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "runtime/core/type_ids.hpp"

namespace cartd {

using journal_actor = caf::typed_actor<
    caf::replies_to<append_atom, journal_append>::with<uint64_t>,
    caf::replies_to<recover_atom, std::string,
                    int64_t>::with<journal_recovery>>;

} // namespace cartd
