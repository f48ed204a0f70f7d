#pragma once

// The membership table behind an interface that returns errors as values
// (like journal_backend): blocking, one user (the membership worker, on a
// thread of its own). The PostgreSQL implementation lives in
// runtime/cluster/postgres; tests may substitute their own.
//
// The table lives in the journal's database and schema, so a member row and
// the journal's fence (see pg_journal's journal_fence) are one transaction
// apart. Lease times are the database's clock (now()), never a node's.
//
// A member is lapsed once its lease_expires < now(). Every join, mark
// leaving and delete bumps the view number in the same transaction; those
// and every view_seen update wake the other nodes (wait_for_change).

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "runtime/cluster/cluster.hpp"

namespace cartd {

/// Why a membership operation failed (category atom "member").
enum class member_errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The database cannot serve the request now (unreachable, timed out).
  unavailable,
  /// Another incarnation of this name holds a valid lease (join).
  name_taken,
  /// This incarnation's row is gone or its lease lapsed (renew, ack, mark
  /// leaving): the node lost its membership and must rejoin.
  lost,
  /// A live member's links speak another transport (plain TCP or TLS with
  /// another CA) than this node's (open, join): it cannot join.
  transport_mismatch,
};

const char* to_string(member_errc x) noexcept;

caf::error make_error(member_errc x, std::string context = {});

/// Registers the "member" error category's renderer.
void add_member_error_category(caf::actor_system_config& cfg);

/// The code of a "member" error; member_errc::unavailable for any other.
member_errc member_errc_of(const caf::error& err) noexcept;

/// What read_view answers.
struct member_view_read {
  /// The numbered view, members sorted by name, `lapsed` by the database's
  /// clock at the read.
  cluster_view view;
  /// How long (by the database's clock at the read) until the next member
  /// whose lease has not lapsed yet lapses; none when there is none.
  std::optional<caf::timespan> next_lapse;
};

class member_store {
public:
  virtual ~member_store();

  // -- modifiers --------------------------------------------------------------

  /// Joins as `self` (name, http, cluster; the other fields are ignored):
  /// deletes a lapsed row of the same name (waiting for its fenced appends),
  /// inserts the row under a fresh incarnation with status up and
  /// lease_expires = now() + lease, and bumps the view. Returns the
  /// incarnation (never 0). member_errc::name_taken, naming the holder's
  /// incarnation and when its lease ends, when a row of that name holds a
  /// valid lease. member_errc::transport_mismatch, naming the member and
  /// both transports, when a member whose lease has not lapsed speaks
  /// another transport than this store's (checked under the lock every join
  /// takes, so two nodes of different transports never both join).
  virtual caf::expected<uint64_t> join(const cluster_member& self,
                                       caf::timespan lease) = 0;

  /// Sets lease_expires = now() + lease for (name, incarnation), unless its
  /// lease lapsed or the row is gone (member_errc::lost).
  virtual caf::error renew(const std::string& name, uint64_t incarnation,
                           caf::timespan lease) = 0;

  /// Sets view_seen = view (never lowering it) for (name, incarnation) and
  /// notifies; member_errc::lost when the row is gone.
  virtual caf::error ack_view(const std::string& name, uint64_t incarnation,
                              uint64_t view) = 0;

  /// Sets status = leaving for (name, incarnation) and bumps the view;
  /// returns the view number (the current one when it already was leaving).
  /// member_errc::lost when the row is gone.
  virtual caf::expected<uint64_t> mark_leaving(const std::string& name,
                                               uint64_t incarnation) = 0;

  /// Deletes (name, incarnation) if its lease lapsed, waiting for the appends
  /// it has in flight (bounded by the store's timeout), and bumps the view.
  /// True when it deleted the row; false when there was nothing to delete
  /// (already removed, or renewed meanwhile). Idempotent: any member may.
  virtual caf::expected<bool> remove_lapsed(const std::string& name,
                                            uint64_t incarnation) = 0;

  /// Deletes this node's own row (name, incarnation) and bumps the view.
  /// Nothing to delete is no error.
  virtual caf::error leave(const std::string& name, uint64_t incarnation) = 0;

  // -- inspectors -------------------------------------------------------------

  /// Reads the view number and every member in one snapshot.
  virtual caf::expected<member_view_read> read_view() = 0;

  /// Waits up to `timeout` for a change notification (a join, leave,
  /// removal, mark leaving or view_seen update by any node, this one
  /// included). True when one came (all that arrived are consumed); false
  /// when the time ran out.
  virtual caf::expected<bool> wait_for_change(caf::timespan timeout) = 0;

  // -- properties -------------------------------------------------------------

  /// Bounds every later call (connecting included); a call that runs out
  /// fails with member_errc::unavailable. Default: the store's own.
  virtual void set_timeout(caf::timespan timeout) = 0;
};

} // namespace cartd
