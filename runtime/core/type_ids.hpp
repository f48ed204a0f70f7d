#pragma once

// Message types and atoms that cross actor boundaries, registered with CAF in
// one ID block per component (Zeek Broker's fwd.hh pattern). Blocks chain:
//
//   cartd_runtime   caf::first_custom_type_id ..  (this file)
//   cartd_cart      cartd_runtime::end ..         (actors/cart/protocol)
//
// Every node registers every block, so the names agree across a cluster.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

namespace cartd {

// -- atoms (at most 10 characters, [A-Za-z0-9_ ]) ----------------------------

using append_atom = caf::atom_constant<caf::atom("append")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;

// -- journal messages ---------------------------------------------------------

/// One stored event: its sequence number within its stream and the encoded
/// payload (opaque to the journal).
struct journal_event {
  uint64_t seq = 0;
  std::string payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_event& x) {
  return f(caf::meta::type_name("cartd::journal_event"), x.seq, x.payload);
}

/// A run of events of one stream, in sequence order.
struct journal_events {
  std::vector<journal_event> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_events& x) {
  return f(caf::meta::type_name("cartd::journal_events"), x.events);
}

/// Payloads to append, in order.
struct journal_payloads {
  std::vector<std::string> payloads;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_payloads& x) {
  return f(caf::meta::type_name("cartd::journal_payloads"), x.payloads);
}

} // namespace cartd

CAF_BEGIN_TYPE_ID_BLOCK(cartd_runtime, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_event))
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_events))
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_payloads))
CAF_END_TYPE_ID_BLOCK(cartd_runtime)
