#pragma once

// The membership table behind an interface that returns errors as values
// (like journal_backend): blocking, one user (the membership worker, on a
// thread of its own). The PostgreSQL implementation lives in
// runtime/cluster/postgres; tests may substitute their own.
//
// The table lives in the journal's database and schema, so a member row and
// the journal's fence (see pg_journal's journal_fence) are one transaction
// apart. Lease times are the database's clock (now()), never a node's.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "runtime/cluster/cluster.hpp"

namespace cartd {

class member_store {
public:
  virtual ~member_store();

  // (The owner of runtime/cluster/postgres defines the operations: join,
  // renew, mark leaving, acknowledge a view, remove a lapsed member, leave,
  // read the numbered view, wait for a change notification.)
};

} // namespace cartd
