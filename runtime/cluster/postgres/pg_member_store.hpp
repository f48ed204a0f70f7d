#pragma once

// The membership table in PostgreSQL: table `members` (and the view counter)
// in the journal's schema, created with the journal's tables. See
// docs/cluster.md for the statements.

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "runtime/cluster/member_store.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"

namespace cartd {

/// What a node's links speak, as the members table records it: "plain",
/// or "tls " and the fingerprint of its CA (tls_credentials).
std::string transport_name(const std::string* ca_fingerprint);

/// Connects (its own connection, bounded by opts.connect_timeout) to the
/// database the journal with the same options uses. Fails like
/// pg_journal::open, never naming a password, and with
/// member_errc::transport_mismatch when a live member speaks another
/// `transport` than this node (then it could never reach it). Joins record
/// `transport` in the node's row.
caf::expected<std::unique_ptr<member_store>>
open_pg_member_store(const pg_options& opts,
                     const std::string& transport = "plain");

} // namespace cartd
