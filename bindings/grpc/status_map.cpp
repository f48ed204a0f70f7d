#include "bindings/grpc/status_map.hpp"

#include "actors/cart/protocol/request_rules.hpp"

namespace cartd {

grpc::StatusCode grpc_code_for(cart_errc code) noexcept {
  switch (code) {
  case cart_errc::none:
    return grpc::StatusCode::OK;
  case cart_errc::invalid_item_id:
  case cart_errc::invalid_quantity:
  case cart_errc::invalid_cart_id:
    return grpc::StatusCode::INVALID_ARGUMENT;
  case cart_errc::item_not_found:
    return grpc::StatusCode::NOT_FOUND;
  case cart_errc::line_quantity_exceeded:
  case cart_errc::cart_full:
  case cart_errc::checked_out:
  case cart_errc::empty_cart:
  case cart_errc::version_mismatch:
    return grpc::StatusCode::FAILED_PRECONDITION;
  case cart_errc::idempotency_key_reused:
    return grpc::StatusCode::ALREADY_EXISTS;
  case cart_errc::crashed:
    return grpc::StatusCode::INTERNAL;
  case cart_errc::overloaded:
  case cart_errc::unavailable:
  case cart_errc::storage_failure:
    return grpc::StatusCode::UNAVAILABLE;
  case cart_errc::timeout:
    return grpc::StatusCode::DEADLINE_EXCEEDED;
  }
  return grpc::StatusCode::INTERNAL;
}

std::string grpc_message_for(cart_errc code, const std::string& detail) {
  std::string result = to_string(code);
  result += ": ";
  // The one message that names an HTTP header for what gRPC calls a field.
  if (code == cart_errc::version_mismatch)
    result += "the cart's version does not match expected_version";
  else
    result += message_for(code);
  if (!detail.empty() && code != cart_errc::crashed &&
      code != cart_errc::timeout)
    result += " (" + detail + ")";
  return result;
}

} // namespace cartd
