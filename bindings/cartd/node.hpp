#pragma once

// Boots one cartd node: the composition root. Chooses the journal backend
// from configuration and builds the supervision tree:
//
//   root (rest_for_one)
//   ├── journal            journal actor over the configured backend
//   ├── carts              cart directory (one_for_one over its shards)
//   │   ├── shard-0        one_for_one over its carts (dynamic children)
//   │   │   └── cart ...
//   │   └── shard-N-1
//   ├── cluster            cluster mode only: the cart router
//   │                      (cluster_node.hpp)
//   ├── admin              with --admin.host/--admin.port only: a second
//   │                      server broker with the management endpoints
//   ├── http               HTTP/1.1 server broker with the cart routes (and
//   │                      the management endpoints, bindings/admin, unless
//   │                      they have a listener of their own)
//   └── grpc               with --grpc.port only: the gRPC front end's bridge
//                          (bindings/grpc; main runs the gRPC server)
//
// rest_for_one: a restarted journal restarts the carts and the HTTP servers
// (they hold its handle); a restarted directory restarts the HTTP servers;
// a restarted admin server restarts the public one. The admin server starts
// first so that it stops last: its /ready ("draining") and /metrics answer
// while the public server drains.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "bindings/cartd/cartd_config.hpp"
#include "bindings/cartd/cluster_node.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"

namespace cartd {

class journal_backend;
class grpc_bridge_slot;

/// Opens the journal backend `cfg` names (for SQLite: creates and opens the
/// database under storage.path). Called before the actor system starts, so
/// a storage path that cannot be opened is a clear error at start.
caf::expected<std::shared_ptr<journal_backend>>
open_journal_backend(const cartd_config& cfg,
                     const cluster_parts& cluster = {});

/// The message a journal error carries (its context), for the start-up
/// refusals; CAF's rendering of the whole error when it has none.
std::string message_of(const caf::error& err);

/// The PostgreSQL journal's options from storage.postgres and
/// storage.postgres-schema, fenced by `fence` (cluster mode) if not null.
pg_options pg_options_of(const cartd_config& cfg,
                         std::shared_ptr<const journal_fence> fence = nullptr);

/// Where the journal lives, for logs: " at PATH (sync full)" for SQLite,
/// " at host=H port=P dbname=D schema=S" for PostgreSQL (never a password),
/// "" for memory.
std::string storage_summary(const cartd_config& cfg);

/// Spawns the root supervisor of a node configured by `cfg` over `backend`.
/// The root quits (with an error) if a child cannot start or restarts
/// exhaust its intensity, and stops everything in order on an exit_msg.
/// In cluster mode (`cluster` not null) the tree has the router and the
/// front end resolves through it.
///
/// `serving` (may be empty) is called, on an actor's thread, once the node
/// serves: its HTTP listeners are bound (the management listener too, with
/// --admin.port) and, in a cluster, the router serves carts (joined, lease
/// valid); again after the front end was restarted. Its argument says
/// where, for a service manager's status line. `stopping`, once true (main
/// sets it at SIGTERM), makes GET /ready answer 503 "draining" on both
/// listeners. With `grpc`, the tree ends with the gRPC front end's bridge
/// (child "grpc"), whose handle goes into the slot at every start.
caf::actor start_node(caf::actor_system& sys, const cartd_config& cfg,
                      std::shared_ptr<journal_backend> backend,
                      cluster_parts cluster = {},
                      std::function<void(const std::string&)> serving = {},
                      std::shared_ptr<const std::atomic<bool>> stopping = {},
                      std::shared_ptr<grpc_bridge_slot> grpc = nullptr);

} // namespace cartd
