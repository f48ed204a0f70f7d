#pragma once

// The journal actor: the single writer of one journal_backend, and a
// coordinator that never blocks.
//
// Group commit: appends from all carts queue up while a commit is running;
// the next commit takes all of them (at most `max_batch`) in one transaction.
// With a backend that fsyncs per commit, durable writes/s thus scale with the
// batch size instead of being capped at 1/fsync-latency.
//
// Threads: the actor itself runs on the scheduler. Over a backend that blocks
// on I/O, the backend commits on a worker of its own (CAF's `detached`), and
// `readers` readers (journal_backend::open_reader, opened once at start on
// the writer's thread) serve recoveries on workers of their own, the least
// busy first, so that a cold cart never waits behind a commit. Without
// readers, recoveries run on the writer, in turn with commits. A backend
// that does not block runs on the scheduler: on workers there when it has
// readers, else called by the actor itself. A recovery is answered after the
// verdict on every append to its stream that reached the journal before it.
//
// A failed commit (unavailable, or unknown_outcome) is retried with
// exponential backoff for `retry_for`; after an unknown outcome with
// journal_backend::append_batch_again, as the first attempt may have landed.
// Then every append of the batch gets the last error (unknown_outcome once
// any attempt's outcome was unknown). Nothing is ever acknowledged that was
// not committed. On shutdown, everything handed over is committed (one last
// attempt, no backoff) or failed, and every recovery answered, before the
// actor ends.

#include <atomic>
#include <cstddef>
#include <memory>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "runtime/journal/journal_actor.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace cartd {

class journal_backend;

/// What the journal actor tells the rest of the node about its store, read
/// without a message (GET /ready asks on the I/O thread).
struct journal_health {
  /// False from a commit that failed (or whose outcome is unknown) until a
  /// commit succeeds again, and from a read that failed (unavailable) until
  /// a read or a commit succeeds.
  std::atomic<bool> available{true};
};

/// How the journal actor batches and retries.
struct journal_settings {
  /// Most appends per commit (1: one commit per append, no group commit).
  size_t max_batch = 512;
  /// How long a failing commit is retried before its appends fail.
  caf::timespan retry_for = caf::timespan{std::chrono::seconds{1}};
  /// Readers (journal_backend::open_reader) serving recoveries while the
  /// writer commits, each on a thread of its own; unused when the backend
  /// has none.
  size_t readers = 4;
  /// Set by the journal actor when given (may be null).
  std::shared_ptr<journal_health> health;
  /// The node's metrics: appends stored, commit durations and batch sizes,
  /// failed commits (null: not counted).
  std::shared_ptr<metrics::node_metrics> metrics;
};

/// Spawns the journal actor over `backend` as a child of `parent` (its
/// workers as its own children; see above). The backend is shared so that a
/// restarted journal actor keeps the same store.
journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend,
                            journal_settings settings = {});

} // namespace cartd
