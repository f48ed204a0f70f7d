#pragma once

// Moving up from one node: copies a node's SQLite journal (format v2, see
// docs/journal-format.md; a v1 file is upgraded first) into a PostgreSQL
// schema, as `cartd --storage.import=sqlite:PATH` does. Events with their
// tags and idempotency columns and the snapshots are copied row for row, so
// every cart reads the same (same items, same version, same ETag) and every
// remembered Idempotency-Key still answers its stored response.
//
// The copy is one transaction: it lands whole or not at all. It refuses,
// storing nothing, when the schema already holds any stream of the SQLite
// journal, so an import never doubles or overwrites a cart (a second import
// of the same file is refused). Stop the SQLite node before importing: what
// it commits during the copy is not copied.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "runtime/journal/postgres/pg_journal.hpp"

namespace cartd {

/// What an import copied.
struct pg_import_summary {
  /// Distinct streams (carts).
  uint64_t streams = 0;
  uint64_t events = 0;
  uint64_t snapshots = 0;
  /// Events that carry an idempotency record.
  uint64_t keys = 0;
};

/// Copies the SQLite journal `<sqlite_dir>/cartd.db` into the schema `opts`
/// names (created by pg_journal::open when missing). Fails with
/// journal_errc::unavailable naming the cause when the file is missing or
/// cannot be read, the server cannot be reached or refuses the copy, and
/// with journal_errc::conflict naming (some of) the streams the schema
/// already holds; then nothing was stored. Never names a password. Blocks:
/// call it before the actor system starts.
caf::expected<pg_import_summary>
import_sqlite_journal(const std::string& sqlite_dir, const pg_options& opts);

} // namespace cartd
