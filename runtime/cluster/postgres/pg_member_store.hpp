#pragma once

// The membership table in PostgreSQL: table `members` (and the view counter)
// in the journal's schema, created with the journal's tables. See
// docs/cluster.md for the statements.

#include <memory>

#include <caf/expected.hpp>

#include "runtime/cluster/member_store.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"

namespace cartd {

/// Connects (its own connection, bounded by opts.connect_timeout) to the
/// database the journal with the same options uses. Fails like
/// pg_journal::open, never naming a password.
caf::expected<std::unique_ptr<member_store>>
open_pg_member_store(const pg_options& opts);

} // namespace cartd
