#include "bindings/grpc/status_map.hpp"

#include <map>
#include <string>

#include <boost/test/unit_test.hpp>

#include "actors/cart/protocol/request_rules.hpp"

using namespace cartd;

namespace {

using code = grpc::StatusCode;

// Every cart_errc and its gRPC status code (the table in status_map.hpp).
const std::map<cart_errc, code> expected = {
    {cart_errc::none, code::OK},
    {cart_errc::invalid_item_id, code::INVALID_ARGUMENT},
    {cart_errc::invalid_quantity, code::INVALID_ARGUMENT},
    {cart_errc::invalid_cart_id, code::INVALID_ARGUMENT},
    {cart_errc::item_not_found, code::NOT_FOUND},
    {cart_errc::line_quantity_exceeded, code::FAILED_PRECONDITION},
    {cart_errc::cart_full, code::FAILED_PRECONDITION},
    {cart_errc::checked_out, code::FAILED_PRECONDITION},
    {cart_errc::empty_cart, code::FAILED_PRECONDITION},
    {cart_errc::version_mismatch, code::FAILED_PRECONDITION},
    {cart_errc::idempotency_key_reused, code::ALREADY_EXISTS},
    {cart_errc::crashed, code::INTERNAL},
    {cart_errc::overloaded, code::UNAVAILABLE},
    {cart_errc::unavailable, code::UNAVAILABLE},
    {cart_errc::storage_failure, code::UNAVAILABLE},
    {cart_errc::timeout, code::DEADLINE_EXCEEDED},
};

} // namespace

BOOST_AUTO_TEST_CASE(every_cart_error_has_its_grpc_code) {
  for (int i = 0; i <= static_cast<int>(cart_errc::idempotency_key_reused);
       ++i) {
    auto err = static_cast<cart_errc>(i);
    auto row = expected.find(err);
    BOOST_TEST_CONTEXT(to_string(err)) {
      BOOST_REQUIRE(row != expected.end());
      BOOST_TEST(static_cast<int>(grpc_code_for(err)) ==
                 static_cast<int>(row->second));
    }
  }
}

BOOST_AUTO_TEST_CASE(the_message_names_the_error_before_the_words) {
  BOOST_TEST(grpc_message_for(cart_errc::checked_out) ==
             std::string{"checked_out: "} +
                 message_for(cart_errc::checked_out));
  BOOST_TEST(grpc_message_for(cart_errc::version_mismatch) ==
             "version_mismatch: the cart's version does not match "
             "expected_version");
}

BOOST_AUTO_TEST_CASE(a_detail_is_added_except_to_crashes_and_timeouts) {
  BOOST_TEST(grpc_message_for(cart_errc::unavailable, "no lease") ==
             std::string{"unavailable: "} +
                 message_for(cart_errc::unavailable) + " (no lease)");
  BOOST_TEST(grpc_message_for(cart_errc::timeout, "x") ==
             std::string{"timeout: "} + message_for(cart_errc::timeout));
  BOOST_TEST(grpc_message_for(cart_errc::crashed, "x") ==
             std::string{"crashed: "} + message_for(cart_errc::crashed));
}

BOOST_AUTO_TEST_CASE(idempotency_keys_are_1_to_128_visible_ascii_characters) {
  BOOST_TEST(valid_idempotency_key("k"));
  BOOST_TEST(valid_idempotency_key(std::string(128, '~')));
  BOOST_TEST(!valid_idempotency_key(""));
  BOOST_TEST(!valid_idempotency_key(std::string(129, 'k')));
  BOOST_TEST(!valid_idempotency_key("a b"));
  BOOST_TEST(!valid_idempotency_key("tab\t"));
  BOOST_TEST(!valid_idempotency_key("caf\xc3\xa9"));
  BOOST_TEST(!valid_idempotency_key(std::string{"a\0b", 3}));
}
