#pragma once

// Message types and atoms that cross actor boundaries, registered with CAF in
// one ID block per component (Zeek Broker's fwd.hh pattern). Blocks chain:
//
//   cartd_runtime   caf::first_custom_type_id ..  (this file)
//   cartd_cluster   cartd_runtime::end ..         (runtime/cluster/cluster.hpp)
//   cartd_cart      cartd_cluster::end ..         (actors/cart/protocol)
//   cartd_router    cartd_cart::end ..            (actors/cart/protocol)
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
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;

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

/// One append: `payloads` extend `stream` after `expected_seq`. Optionally
/// carries an idempotency record and a snapshot, written in the same
/// transaction as the events. It names the exact event it extends: it lands
/// only if the stream's last event is `expected_seq` and (unless
/// `expected_seq` is 0) that event's tag is `expected_tag` (see
/// journal_backend::append_batch).
struct journal_append {
  std::string stream;
  uint64_t expected_seq = 0;
  /// The tag stored with the event at expected_seq, as this writer knows it
  /// (ignored when expected_seq is 0; events stored before format v2 have 0).
  uint64_t expected_tag = 0;
  /// Stored with every event of this append; chosen by the writer.
  uint64_t tag = 0;
  std::vector<std::string> payloads;
  /// Idempotency key of the request that produced the events (empty: none).
  std::string idempotency_key;
  /// Fingerprint of that request, to tell a retry from a different request.
  std::string request_digest;
  /// What a retry with the same key gets (opaque to the journal).
  std::string response;
  /// State of the stream after this append (empty: no snapshot).
  std::string snapshot;
  /// The id of the request that produced the events (X-Request-Id), for
  /// the journal's log lines; never stored.
  std::string request_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_append& x) {
  return f(caf::meta::type_name("cartd::journal_append"), x.stream,
           x.expected_seq, x.expected_tag, x.tag, x.payloads, x.idempotency_key,
           x.request_digest, x.response, x.snapshot, x.request_id);
}

/// A stored idempotency record.
struct idempotency_record {
  std::string key;
  std::string request_digest;
  std::string response;
  /// Sequence number of the last event the request produced.
  uint64_t seq = 0;
  /// When it was committed, in milliseconds since the Unix epoch.
  int64_t recorded_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, idempotency_record& x) {
  return f(caf::meta::type_name("cartd::idempotency_record"), x.key,
           x.request_digest, x.response, x.seq, x.recorded_at_ms);
}

/// What a stream's owner needs to recover: the latest snapshot, the events
/// after it, and the idempotency records still within retention.
struct journal_recovery {
  /// 0 and empty when the stream has no snapshot.
  uint64_t snapshot_seq = 0;
  std::string snapshot;
  std::vector<journal_event> events;
  std::vector<idempotency_record> idempotency;
  /// The tag of the stream's last event, also when the snapshot covers it (0
  /// for an empty stream or an event stored before format v2).
  uint64_t last_tag = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_recovery& x) {
  return f(caf::meta::type_name("cartd::journal_recovery"), x.snapshot_seq,
           x.snapshot, x.events, x.idempotency, x.last_tag);
}

} // namespace cartd

CAF_BEGIN_TYPE_ID_BLOCK(cartd_runtime, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_event))
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_append))
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::idempotency_record))
  CAF_ADD_TYPE_ID(cartd_runtime, (cartd::journal_recovery))
CAF_END_TYPE_ID_BLOCK(cartd_runtime)
