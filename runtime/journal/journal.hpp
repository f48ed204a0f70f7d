#pragma once

// The event journal: an append-only log of opaque events per stream (one
// stream per cart). A backend sits behind `journal_backend` and reports
// failures as values (Zeek Broker's abstract_backend pattern); the node picks
// the backend (bindings/cartd), actors only ever see `journal_actor`.
//
// Versioned writes: an append names the exact event it extends, by its
// sequence number and the tag its writer stored with it. That is the
// journal's one rule (journal_backend::append_batch); two writers for one
// stream can never both extend the same event, and an append a writer sent
// ahead of one that failed can never land on another writer's event.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/core/type_ids.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace cartd {

/// Why a journal operation failed (category atom "journal").
enum class journal_errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The append does not extend the stream's last event (its expected
  /// sequence number or expected tag is not that event's).
  conflict,
  /// The backend cannot serve the request now (I/O error, full, locked).
  unavailable,
  /// Stored data cannot be read back.
  corrupt,
  /// The commit's outcome is not known (the connection to the store was lost
  /// during COMMIT): the append may have been stored. Retrying it with the
  /// same Idempotency-Key tells.
  unknown_outcome,
  /// The writer is not a member of the cluster any more (its membership row,
  /// which every append locks, is gone or names another incarnation):
  /// nothing was stored, and this node must stop serving.
  fenced,
};

const char* to_string(journal_errc x) noexcept;

caf::error make_error(journal_errc x, std::string context = {});

/// Registers the "journal" error category's renderer.
void add_journal_error_category(caf::actor_system_config& cfg);

/// A storage engine for the journal. Not thread-safe: the journal actor is its
/// only user, on a thread of its own (backends may block).
class journal_backend {
public:
  virtual ~journal_backend();

  // -- modifiers --------------------------------------------------------------

  /// Appends every request of `batch` in one transaction (group commit) and
  /// makes it durable before returning (as durable as the backend is).
  /// Requests apply in order, each against the stream as the ones before it
  /// left it. The one rule: a request succeeds iff the stream's last
  /// sequence number is its `expected_seq` and, unless `expected_seq` is 0,
  /// the tag stored with event `expected_seq` is its `expected_tag`. Then its
  /// events get sequence numbers expected_seq + 1, ... and each is stored
  /// with its `tag`. `result[i]` answers `batch[i]`: the stream's new last
  /// sequence number, or journal_errc::conflict when the rule does not hold
  /// (then only that request is skipped and nothing of it is stored), or
  /// journal_errc::unavailable for every request when the commit failed
  /// (then nothing was stored). A writer that sends appends ahead tags its
  /// events and expects its own tag on the event it extends, so once one of
  /// them fails the ones behind it cannot land on another writer's event.
  virtual std::vector<caf::expected<uint64_t>>
  append_batch(const std::vector<journal_append>& batch) = 0;

  /// Appends `payloads` to `stream` after `expected_seq` (a batch of one),
  /// with expected_tag and tag 0.
  caf::expected<uint64_t> append(const std::string& stream,
                                 uint64_t expected_seq,
                                 std::vector<std::string> payloads);

  /// Sends `batch` again after append_batch answered
  /// journal_errc::unknown_outcome for it. As append_batch, except that a
  /// request whose events are already stored (event expected_seq + 1 exists
  /// and carries the request's tag, which is not 0) is answered as stored
  /// (expected_seq + its number of payloads) instead of conflict. Sound
  /// because a writer never sends two different appends extending the same
  /// event under one tag unless the first was refused for certain. The
  /// default calls append_batch, for backends that never answer
  /// unknown_outcome.
  virtual std::vector<caf::expected<uint64_t>>
  append_batch_again(const std::vector<journal_append>& batch);

  // -- inspectors -------------------------------------------------------------

  /// Returns the latest snapshot of `stream`, the events after it and the
  /// idempotency records committed at or after `keys_since_ms` (Unix epoch
  /// milliseconds), and the tag of its last event. An unknown stream
  /// recovers as empty.
  virtual caf::expected<journal_recovery> recover(const std::string& stream,
                                                  int64_t keys_since_ms) = 0;

  /// Returns the events of `stream` with a sequence number > `after_seq`, in
  /// order (empty for an unknown stream), ignoring snapshots.
  virtual caf::expected<std::vector<journal_event>>
  replay(const std::string& stream, uint64_t after_seq) = 0;

  /// The backend's name for logs, e.g. "memory".
  virtual const char* name() const noexcept = 0;

  /// Whether calls may block on I/O; then the journal actor gets a thread of
  /// its own instead of sharing the scheduler's.
  virtual bool blocks() const noexcept { return true; }

  /// Opens a reader: another connection to the same store, whose recover
  /// and replay run on a thread of their own while this object commits (so
  /// an activation never waits behind a commit). It sees every commit of
  /// this object that returned before the read started. nullptr: the
  /// backend has no separate readers; reads then run on the writer, in turn
  /// with its commits (the default). A reader's append_batch is never
  /// called.
  virtual caf::expected<std::unique_ptr<journal_backend>> open_reader();
};

/// Milliseconds since the Unix epoch, the journal's clock for records.
int64_t journal_now_ms() noexcept;

} // namespace cartd
