#pragma once

// The cart's actor interface: what the HTTP layer (and later, other nodes)
// may say to a cart and to the cart directory. The implementation lives in
// actors/cart/actor (cart_actor_impl.hpp) and actors/cart/directory.
//
// cart_actor
//   (get_atom, request_id)
//                       -> cart_view   the last acknowledged state
//   (cart_mutation)     -> cart_view   decide -> persist -> apply -> reply
//       errors: every cart_errc a mutation can raise (model rules,
//               version_mismatch, overloaded, storage_failure)
//   (crash_atom)        -> cart_view   fault injection: throws when enabled,
//                                      cart_errc::unavailable otherwise
//   (watch_atom, cart_watcher_actor, request_id)
//                       -> cart_view   get, and push every later change of
//                                      this incarnation to the watcher (see
//                                      "watchers" below)
//   (what a cart's shard asks it is private: cart_control_actor in
//   actors/cart/actor/cart_actor_impl.hpp)
//
// cart_directory_actor
//   (resolve_atom, cart_id) -> cart_actor   activates the cart if needed
//       errors: cart_errc::invalid_cart_id, cart_errc::unavailable
//
// cart_watcher_actor (a front end's read cache; what a cart sends it)
//   (changed_atom, cart_view)            after every change the journal
//                                        stored, before replying to the
//                                        request that made it;
//   (gone_atom, cart_id, incarnation)    when this incarnation terminates
//                                        for any reason (passivation, crash,
//                                        kill).
//
// Incarnations. Each activation of a cart (first use, after passivation,
// after a crash) is a new incarnation and draws a random non-zero 64-bit
// number, carried by every cart_view it produces (cart_view::incarnation) and
// by its gone_atom. A watcher that holds a view of incarnation N knows it is
// current until it gets (gone_atom, id, N): a cart watched by `watch_atom`
// pushes every change to it, in order, before the reply of the request that
// made it. Watching is explicit (get_atom never watches) and costs one
// message per change; a watcher that no longer cares simply ignores them. A
// watcher never needs to know who sent a push: the payload says which
// incarnation it is from.
//
// Request ids. `request_id` (a std::string) is the id of the HTTP request
// (X-Request-Id) a read is made for, and cart_mutation::request_id a
// change's: the cart, on whichever node it runs, writes it in its log lines
// about the request (empty: none). It is never part of what is asked.
//
// Errors travel as caf::error with category atom "cart" and a cart_errc code;
// to_cart_errc maps any error a caller sees (including CAF's own timeouts and
// a crashed cart) back to one cart_errc.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cart/model/cart.hpp"
#include "runtime/cluster/cluster.hpp"
#include "runtime/core/type_ids.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace cartd {

// -- messages -----------------------------------------------------------------

using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;
using gone_atom = caf::atom_constant<caf::atom("gone")>;

/// One line of a cart as clients see it.
struct cart_line {
  std::string item;
  int64_t quantity = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cart_line& x) {
  return f(caf::meta::type_name("cartd::cart_line"), x.item, x.quantity);
}

/// A cart as clients see it: lines sorted by item id.
struct cart_view {
  std::string id;
  std::vector<cart_line> lines;
  int64_t total_quantity = 0;
  bool checked_out = false;
  uint64_t version = 0;
  /// The incarnation of the cart that produced this view (see
  /// "Incarnations" above); never rendered to clients.
  uint64_t incarnation = 0;
  /// The reply to a change repeated with its Idempotency-Key: the cart as
  /// the first request left it, nothing changed now (HTTP:
  /// `Idempotent-Replayed: true`).
  bool replayed = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cart_view& x) {
  return f(caf::meta::type_name("cartd::cart_view"), x.id, x.lines,
           x.total_quantity, x.checked_out, x.version, x.incarnation,
           x.replayed);
}

/// Builds the client view of `state`, held by the cart incarnation
/// `incarnation`.
cart_view make_view(const std::string& id, const cart& state,
                    uint64_t incarnation);

/// Which command a cart_mutation carries.
enum class mutation_kind : uint8_t {
  add_item,
  set_item_quantity,
  remove_item,
  remove_one_unit,
  clear_cart,
  checkout,
};

/// Returns the kind's name, e.g. "add_item".
const char* to_string(mutation_kind x) noexcept;

/// A change request for one cart: a model command plus an optional
/// precondition on the cart's version (HTTP If-Match).
struct cart_mutation {
  mutation_kind kind = mutation_kind::add_item;
  std::string item;
  int64_t quantity = 0;
  bool has_expected_version = false;
  uint64_t expected_version = 0;
  /// The client's Idempotency-Key (empty: none). A retry with the same key
  /// gets the original result and changes nothing.
  std::string idempotency_key;
  /// The id of the HTTP request (X-Request-Id) that asked for it, carried
  /// to the cart's node for its log lines (empty: none). Not part of what
  /// the request asks for (request_digest leaves it out).
  std::string request_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cart_mutation& x) {
  return f(caf::meta::type_name("cartd::cart_mutation"), x.kind, x.item,
           x.quantity, x.has_expected_version, x.expected_version,
           x.idempotency_key, x.request_id);
}

/// Converts the wire message to the model's command.
cart_command to_command(const cart_mutation& x);

/// A stable fingerprint of what `x` asks for (everything but the key): two
/// requests with one key and different fingerprints are different requests.
std::string request_digest(const cart_mutation& x);

// -- interfaces ---------------------------------------------------------------

using cart_watcher_actor =
    caf::typed_actor<caf::reacts_to<changed_atom, cart_view>,
                     caf::reacts_to<gone_atom, std::string, uint64_t>>;

using cart_actor = caf::typed_actor<
    caf::replies_to<caf::get_atom, std::string>::with<cart_view>,
    caf::replies_to<cart_mutation>::with<cart_view>,
    caf::replies_to<crash_atom>::with<cart_view>,
    caf::replies_to<watch_atom, cart_watcher_actor,
                    std::string>::with<cart_view>>;

using cart_directory_actor = caf::typed_actor<
    caf::replies_to<resolve_atom, std::string>::with<cart_actor>>;

// -- errors -------------------------------------------------------------------

/// Wraps a cart_errc into a caf::error (category atom "cart").
caf::error make_error(cart_errc x, std::string context = {});

/// Maps any error a cart request can end with to a cart_errc: cart errors
/// as they are, a request timeout to `timeout`, a crash (exception) to
/// `crashed`, a journal failure to `storage_failure`, everything else to
/// `unavailable`.
cart_errc to_cart_errc(const caf::error& x) noexcept;

/// Registers the "cart" error category's renderer.
void add_cart_error_category(caf::actor_system_config& cfg);

} // namespace cartd

CAF_BEGIN_TYPE_ID_BLOCK(cartd_cart, caf::id_block::cartd_cluster::end)
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_line))
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_view))
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_mutation))
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_actor))
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_watcher_actor))
  CAF_ADD_TYPE_ID(cartd_cart, (cartd::cart_directory_actor))
CAF_END_TYPE_ID_BLOCK(cartd_cart)
