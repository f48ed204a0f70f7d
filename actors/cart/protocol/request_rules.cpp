#include "actors/cart/protocol/request_rules.hpp"

#include <algorithm>

namespace cartd {

bool valid_idempotency_key(std::string_view key) noexcept {
  auto visible = [](char c) { return c > 0x20 && c < 0x7f; };
  return !key.empty() && key.size() <= max_idempotency_key_size &&
         std::all_of(key.begin(), key.end(), visible);
}

const char* message_for(cart_errc code) noexcept {
  switch (code) {
  case cart_errc::none:
    return "no error";
  case cart_errc::invalid_item_id:
    return "item ids are 1 to 128 bytes of UTF-8 without control "
           "characters";
  case cart_errc::invalid_quantity:
    return "quantity must be an integer from 1 to 1000000 (0 allowed when "
           "setting)";
  case cart_errc::line_quantity_exceeded:
    return "a line cannot hold more than 1000000000 units";
  case cart_errc::cart_full:
    return "the cart has the maximum number of distinct items";
  case cart_errc::checked_out:
    return "the cart is checked out and accepts no further change";
  case cart_errc::empty_cart:
    return "an empty cart cannot be checked out";
  case cart_errc::item_not_found:
    return "the item is not in the cart";
  case cart_errc::version_mismatch:
    return "the cart's version does not match If-Match";
  case cart_errc::invalid_cart_id:
    return "cart ids are 1 to 128 characters of A-Z a-z 0-9 . _ ~ -";
  case cart_errc::overloaded:
    return "too many changes are queued for this cart; retry later";
  case cart_errc::unavailable:
    return "the cart is unavailable right now; retry later";
  case cart_errc::storage_failure:
    return "the change could not be stored; nothing was changed";
  case cart_errc::crashed:
    return "the cart crashed and was restarted with its stored state; a "
           "change in flight may or may not have been applied (retry with "
           "the same Idempotency-Key to find out)";
  case cart_errc::timeout:
    return "the request did not complete (no answer in time, or the store "
           "lost the commit's outcome); a change may or may not have been "
           "applied (retry with the same Idempotency-Key to find out)";
  case cart_errc::idempotency_key_reused:
    return "this Idempotency-Key was used for a different request";
  }
  return "unknown error";
}

} // namespace cartd
