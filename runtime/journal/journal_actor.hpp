#pragma once

// The journal's actor interface. Carts talk to the journal only through this
// handle; which backend sits behind it is the node's choice.
//
//   (append_atom, stream, expected_seq, journal_payloads) -> uint64_t last_seq
//       errors: journal_errc::conflict, journal_errc::unavailable
//   (replay_atom, stream, after_seq) -> journal_events
//       errors: journal_errc::unavailable, journal_errc::corrupt

#include <cstdint>
#include <memory>
#include <string>

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "runtime/core/type_ids.hpp"

namespace cartd {

class journal_backend;

using journal_actor = caf::typed_actor<
  caf::replies_to<append_atom, std::string, uint64_t,
                  journal_payloads>::with<uint64_t>,
  caf::replies_to<replay_atom, std::string, uint64_t>::with<journal_events>>;

} // namespace cartd
