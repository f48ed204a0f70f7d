#include "actors/cart/actor/write_pipeline.hpp"

namespace cartd::detail {

write_verdict decide_write(const cart& base, const write_request& request,
                           const cart_limits& limits) {
  write_verdict result;
  if (request.expected_version && *request.expected_version != base.version) {
    result.error = cart_errc::version_mismatch;
    result.detail = "cart is at version " + std::to_string(base.version);
    return result;
  }
  auto verdict = decide(base, request.command, limits);
  result.events = std::move(verdict.events);
  result.error = verdict.error;
  return result;
}

} // namespace cartd::detail
