#pragma once

// Lets Boost.Test print model values when an assertion fails. Found by ADL:
// cart_event is a std::variant of cartd types, so namespace cartd is searched.

#include <ostream>
#include <variant>

#include "actors/cart/model/cart.hpp"

namespace cartd {

inline std::ostream& boost_test_print_type(std::ostream& out, cart_errc x) {
  return out << to_string(x);
}

inline std::ostream& boost_test_print_type(std::ostream& out,
                                           const cart_event& x) {
  struct printer {
    std::ostream& out;
    void operator()(const item_added& ev) {
      out << "item_added{" << ev.item << ", " << ev.quantity << '}';
    }
    void operator()(const item_quantity_set& ev) {
      out << "item_quantity_set{" << ev.item << ", " << ev.quantity << '}';
    }
    void operator()(const item_removed& ev) {
      out << "item_removed{" << ev.item << '}';
    }
    void operator()(const cart_cleared&) { out << "cart_cleared{}"; }
    void operator()(const cart_checked_out&) { out << "cart_checked_out{}"; }
  };
  std::visit(printer{out}, x);
  return out;
}

inline std::ostream& boost_test_print_type(std::ostream& out, const cart& x) {
  out << "cart{version=" << x.version
      << ", checked_out=" << (x.checked_out ? "true" : "false") << ", lines={";
  const char* sep = "";
  for (const auto& [item, quantity] : x.lines) {
    out << sep << item << ": " << quantity;
    sep = ", ";
  }
  return out << "}}";
}

} // namespace cartd
