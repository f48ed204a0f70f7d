#include "bindings/cart_http/error_map.hpp"

namespace cartd {

unsigned status_for(cart_errc code) noexcept {
  switch (code) {
  case cart_errc::none:
    return 200;
  case cart_errc::invalid_item_id:
  case cart_errc::invalid_quantity:
  case cart_errc::invalid_cart_id:
    return 400;
  case cart_errc::item_not_found:
    return 404;
  case cart_errc::line_quantity_exceeded:
  case cart_errc::cart_full:
  case cart_errc::checked_out:
  case cart_errc::empty_cart:
    return 409;
  case cart_errc::version_mismatch:
    return 412;
  case cart_errc::idempotency_key_reused:
    return 422;
  case cart_errc::crashed:
    return 500;
  case cart_errc::overloaded:
  case cart_errc::unavailable:
  case cart_errc::storage_failure:
  case cart_errc::timeout:
    return 503;
  }
  return 500;
}

http::response error_reply(cart_errc code, const std::string& detail) {
  std::string message = message_for(code);
  if (!detail.empty() && code != cart_errc::crashed &&
      code != cart_errc::timeout)
    message += " (" + detail + ")";
  return http::error_response(status_for(code), to_string(code), message);
}

} // namespace cartd
