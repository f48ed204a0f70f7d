#include "actors/cart/protocol/cart_actor.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace cartd {

cart_view make_view(const std::string& id, const cart& state,
                    uint64_t incarnation) {
  cart_view result;
  result.id = id;
  result.lines.reserve(state.lines.size());
  for (auto& [item, quantity] : state.lines) {
    result.lines.push_back(cart_line{item, quantity});
    result.total_quantity += quantity;
  }
  result.checked_out = state.checked_out;
  result.version = state.version;
  result.incarnation = incarnation;
  return result;
}

const char* to_string(mutation_kind x) noexcept {
  switch (x) {
  case mutation_kind::add_item:
    return "add_item";
  case mutation_kind::set_item_quantity:
    return "set_item_quantity";
  case mutation_kind::remove_item:
    return "remove_item";
  case mutation_kind::remove_one_unit:
    return "remove_one_unit";
  case mutation_kind::clear_cart:
    return "clear_cart";
  case mutation_kind::checkout:
    return "checkout";
  }
  return "unknown";
}

cart_command to_command(const cart_mutation& x) {
  switch (x.kind) {
  case mutation_kind::add_item:
    return add_item{x.item, x.quantity};
  case mutation_kind::set_item_quantity:
    return set_item_quantity{x.item, x.quantity};
  case mutation_kind::remove_item:
    return remove_item{x.item};
  case mutation_kind::remove_one_unit:
    return remove_one_unit{x.item};
  case mutation_kind::clear_cart:
    return clear_cart{};
  case mutation_kind::checkout:
    return checkout{};
  }
  return clear_cart{}; // unreachable: every kind is handled above
}

std::string request_digest(const cart_mutation& x) {
  // Human-readable and stable across versions of the program: it is stored
  // in the journal.
  std::string result = to_string(x.kind);
  result += '|';
  result += std::to_string(x.quantity);
  result += '|';
  result += x.has_expected_version ? std::to_string(x.expected_version) : "*";
  result += '|';
  result += x.item;
  return result;
}

caf::error make_error(cart_errc x, std::string context) {
  return {static_cast<uint8_t>(x), caf::atom("cart"),
          caf::make_message(std::move(context))};
}

cart_errc to_cart_errc(const caf::error& x) noexcept {
  if (!x)
    return cart_errc::none;
  if (x.category() == caf::atom("cart"))
    return static_cast<cart_errc>(x.code());
  if (x.category() == caf::atom("journal"))
    return cart_errc::storage_failure;
  if (x == caf::sec::request_timeout)
    return cart_errc::timeout;
  if (x == caf::sec::runtime_error ||
      x == caf::exit_reason::unhandled_exception)
    return cart_errc::crashed;
  return cart_errc::unavailable;
}

void add_cart_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("cart"), [](uint8_t code, caf::atom_value,
                                               const caf::message& context) {
    return std::string{"cart_error("} +
           to_string(static_cast<cart_errc>(code)) + ", " + to_string(context) +
           ")";
  });
}

} // namespace cartd
