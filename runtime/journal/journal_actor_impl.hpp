#pragma once

// The journal actor: serializes access to one journal_backend.

#include <memory>

#include <caf/fwd.hpp>

#include "runtime/journal/journal_actor.hpp"

namespace cartd {

/// Spawns a journal actor in `parent`'s system over `backend`. The backend is
/// shared so that a restarted journal actor keeps the same store.
journal_actor spawn_journal(caf::event_based_actor* parent,
                            std::shared_ptr<journal_backend> backend);

} // namespace cartd
