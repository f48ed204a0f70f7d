#pragma once

// The journal actor's workers (private to journal_actor_impl.cpp): the
// writer commits batches on the backend the journal was given, and opens the
// readers; each reader serves recoveries on a connection of its own. Over a
// backend that blocks, the coordinator spawns them detached (a thread each).
// Their messages never leave the node.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "runtime/core/type_ids.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd::journal_workers {

using results_type = std::vector<caf::expected<uint64_t>>;

// Internal messages (never leave the node).
using commit_atom = caf::atom_constant<caf::atom("jcommit")>;
using open_atom = caf::atom_constant<caf::atom("jopen")>;

/// A batch on its way to the writer: shared, so that the coordinator keeps
/// it (to retry it, and to know which streams it holds) without a copy.
struct commit_batch {
  std::shared_ptr<const std::vector<journal_append>> appends;
  /// An earlier attempt's outcome is unknown: use append_batch_again.
  bool again = false;
};

/// The writer's answer to a commit_batch.
struct commit_outcome {
  results_type results;
};

/// Readers the writer opened (open_reader), to be run by workers.
struct opened_readers {
  std::vector<std::shared_ptr<journal_backend>> readers;
};

using reader_actor =
    caf::typed_actor<caf::replies_to<recover_atom, std::string,
                                     int64_t>::with<journal_recovery>>;

using writer_actor = reader_actor::extend<
    caf::replies_to<commit_atom, commit_batch>::with<commit_outcome>,
    caf::replies_to<open_atom, uint64_t>::with<opened_readers>>;

struct worker_state {
  std::shared_ptr<journal_backend> backend;
};

struct writer_state : worker_state {
  static inline const char* name = "cartd.journal.writer";
};

struct reader_state : worker_state {
  static inline const char* name = "cartd.journal.reader";
};

/// Commits `batch` on `backend` (append_batch, or append_batch_again after
/// an unknown outcome); an exception becomes an unknown outcome.
results_type commit_on(journal_backend& backend, const commit_batch& batch);

/// Recovers `stream` from `backend`; an exception becomes unavailable.
caf::expected<journal_recovery> read_on(journal_backend& backend,
                                        const std::string& stream,
                                        int64_t keys_since_ms);

reader_actor::behavior_type
reader_impl(reader_actor::stateful_pointer<reader_state> self,
            std::shared_ptr<journal_backend> backend);

writer_actor::behavior_type
writer_impl(writer_actor::stateful_pointer<writer_state> self,
            std::shared_ptr<journal_backend> backend);

} // namespace cartd::journal_workers

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::journal_workers::commit_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::journal_workers::commit_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::journal_workers::opened_readers)
