#pragma once

// The journal actor: the single writer of one journal_backend.
//
// Group commit: appends from all carts queue up while a commit is running;
// the next commit takes all of them (at most `max_batch`) in one transaction.
// With a backend that fsyncs per commit, durable writes/s thus scale with the
// batch size instead of being capped at 1/fsync-latency. Over a backend that
// blocks on I/O the actor runs on a thread of its own (CAF's `detached`), so
// it never stalls the shared scheduler or the I/O thread.
//
// A failed commit is retried with exponential backoff for `retry_for`; then
// every append of the batch gets journal_errc::unavailable. Nothing is ever
// acknowledged that was not committed.

#include <atomic>
#include <cstddef>
#include <memory>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "runtime/journal/journal_actor.hpp"

namespace cartd {

class journal_backend;

/// What the journal actor tells the rest of the node about its store, read
/// without a message (GET /ready asks on the I/O thread).
struct journal_health {
  /// False from a commit that failed (or whose outcome is unknown) until a
  /// commit succeeds again.
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
};

/// Spawns the journal actor over `backend` as a child of `parent`, on a
/// thread of its own. The backend is shared so that a restarted journal
/// actor keeps the same store.
journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend,
                            journal_settings settings = {});

} // namespace cartd
