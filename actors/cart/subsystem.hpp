#pragma once

// The cart subsystem's part of a node's supervision tree, wired in one place
// for everyone who runs it (the cartd node, the benchmarks' local node, the
// cart actor tests), and the registration of cartd's message types and
// error categories.
//
//   parent (rest_for_one)
//   ├── journal   journal actor over the given backend   (journal_actor)
//   └── carts     cart directory, one_for_one over its   (cart_directory_actor)
//       │         shards
//       ├── shard-0   a shard supervises its carts (dynamic children)
//       └── ...
//
// The parent must be rest_for_one (or one_for_all): the directory's carts
// hold the journal's handle, so a restarted journal must restart them.

#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/cart/actor/cart_actor_impl.hpp"
#include "actors/cart/directory/cart_directory.hpp"
#include "runtime/journal/journal_actor_impl.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd {

class journal_backend;

/// Child id of the journal (a journal_actor).
constexpr const char* journal_child_id = "journal";

/// Child id of the cart directory (a cart_directory_actor).
constexpr const char* directory_child_id = "carts";

/// How the cart subsystem runs.
struct cart_subsystem_settings {
  journal_settings journal;
  directory_settings directory;
  cart_settings carts;
};

/// Returns the child specs of the journal over `backend` and of the cart
/// directory, in start order, for a rest_for_one parent. Siblings find them
/// typed: `up.find<cart_directory_actor>(directory_child_id)`.
std::vector<supervision::child_spec>
cart_subsystem_specs(std::shared_ptr<journal_backend> backend,
                     cart_subsystem_settings settings);

/// Registers every message type and error category of cartd with `cfg`:
/// the runtime's and the cart's type-ID blocks, and the cart, journal and
/// supervisor error categories. Call once, before the actor system starts.
void add_cartd_types(caf::actor_system_config& cfg);

} // namespace cartd
