#pragma once

// The pure shopping-cart model: state, commands, events and the two pure
// functions that define the cart's rules.
//
//   decide(cart, command, limits) -> events | cart_errc
//   apply(cart, event)            -> cart
//
// Only the C++ standard library is used here: no CAF, no runtime, no I/O.
// Every accepted command yields exactly one event, so a cart's `version`
// equals the number of events applied to it (its journal sequence number).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cartd {

// -- limits -------------------------------------------------------------------

/// Smallest quantity an add accepts.
constexpr int64_t min_add_quantity = 1;

/// Largest quantity a single add or set accepts.
constexpr int64_t max_quantity_per_change = 1'000'000;

/// Largest quantity a single line may ever hold.
constexpr int64_t max_line_quantity = 1'000'000'000;

/// Longest item id, in bytes of UTF-8.
constexpr size_t max_item_id_size = 128;

/// Longest cart id, in characters of `[A-Za-z0-9._~-]`.
constexpr size_t max_cart_id_size = 128;

/// Per-node configurable limits that the rules consult.
struct cart_limits {
  /// Most distinct item lines a cart may hold.
  size_t max_lines = 1000;
};

// -- errors -------------------------------------------------------------------

/// Why a cart refused a command or could not answer. The model itself only
/// produces the codes in the first group; the rest are raised by the layers
/// around it and live here so that one enum (and one HTTP mapping) covers
/// every rejection a client can see.
enum class cart_errc : uint8_t {
  /// Not an error.
  none = 0,
  // -- raised by decide() --
  /// The item id is empty, longer than 128 bytes, not UTF-8 or has controls.
  invalid_item_id,
  /// The quantity is outside the range the command accepts.
  invalid_quantity,
  /// The change would push a line above 1,000,000,000.
  line_quantity_exceeded,
  /// The change would add a line beyond `cart_limits::max_lines`.
  cart_full,
  /// The cart is checked out; it accepts no further change.
  checked_out,
  /// Checkout of a cart without lines.
  empty_cart,
  /// The item has no line in the cart.
  item_not_found,
  // -- raised by the cart actor --
  /// The caller's expected version (If-Match) is not the cart's version.
  version_mismatch,
  /// The cart id is not 1..128 characters of `[A-Za-z0-9._~-]`.
  invalid_cart_id,
  /// Too many commands are queued for this cart.
  overloaded,
  /// The cart is stopped after crashing too often, or cannot be activated.
  unavailable,
  /// The journal refused or failed the write; nothing was changed.
  storage_failure,
  /// The cart crashed while handling the request.
  crashed,
  /// The cart did not answer in time.
  timeout,
  /// An Idempotency-Key was reused for a different request.
  idempotency_key_reused,
};

/// Returns a stable snake_case name, e.g. "checked_out".
const char* to_string(cart_errc x) noexcept;

// -- state --------------------------------------------------------------------

/// A cart: item lines (item id -> quantity, ordered by item id), a status and
/// the number of changes accepted so far.
struct cart {
  std::map<std::string, int64_t, std::less<>> lines;
  bool checked_out = false;
  uint64_t version = 0;

  /// Sum of all line quantities.
  int64_t total_quantity() const noexcept;
};

bool operator==(const cart& x, const cart& y) noexcept;

inline bool operator!=(const cart& x, const cart& y) noexcept {
  return !(x == y);
}

// -- commands (imperative) ----------------------------------------------------

/// Adds `quantity` units of `item`, creating the line if needed.
struct add_item {
  std::string item;
  int64_t quantity = 1;
};

/// Sets the line of `item` to `quantity`; 0 removes the line.
struct set_item_quantity {
  std::string item;
  int64_t quantity = 0;
};

/// Removes the line of `item`.
struct remove_item {
  std::string item;
};

/// Takes one unit of `item` (the seed API's `DELETE /cart/{item}`); the line
/// goes when it reaches zero.
struct remove_one_unit {
  std::string item;
};

/// Removes every line.
struct clear_cart {};

/// Checks the cart out; after this every change is refused.
struct checkout {};

using cart_command = std::variant<add_item, set_item_quantity, remove_item,
                                  remove_one_unit, clear_cart, checkout>;

// -- events (past tense) ------------------------------------------------------

/// `quantity` units of `item` were added (line created if absent).
struct item_added {
  std::string item;
  int64_t quantity = 0;
};

/// The line of `item` was set to `quantity` (always > 0).
struct item_quantity_set {
  std::string item;
  int64_t quantity = 0;
};

/// The line of `item` was removed.
struct item_removed {
  std::string item;
};

/// Every line was removed.
struct cart_cleared {};

/// The cart was checked out.
struct cart_checked_out {};

using cart_event = std::variant<item_added, item_quantity_set, item_removed,
                                cart_cleared, cart_checked_out>;

bool operator==(const cart_event& x, const cart_event& y) noexcept;

// Without this overload `!=` would pick std::variant's, which needs `!=` on
// every event type.
inline bool operator!=(const cart_event& x, const cart_event& y) noexcept {
  return !(x == y);
}

// -- validation ---------------------------------------------------------------

/// 1..128 bytes of valid UTF-8 without control characters (C0, DEL, C1).
bool valid_item_id(std::string_view id) noexcept;

/// 1..128 characters of `[A-Za-z0-9._~-]`.
bool valid_cart_id(std::string_view id) noexcept;

// -- rules --------------------------------------------------------------------

/// The outcome of `decide`: the events to persist, or why the command is
/// refused. An accepted command yields exactly one event.
struct decision {
  std::vector<cart_event> events;
  cart_errc error = cart_errc::none;

  bool accepted() const noexcept { return error == cart_errc::none; }
};

/// Decides what `cmd` does to `state` without changing it.
decision decide(const cart& state, const cart_command& cmd,
                const cart_limits& limits);

/// Returns `state` with `ev` applied and `version` incremented by one.
/// Events are facts: apply never refuses one.
cart apply(cart state, const cart_event& ev);

/// Applies `ev` in place (the hot path's variant of apply).
void apply_in_place(cart& state, const cart_event& ev);

} // namespace cartd
