#include "bindings/cart_http/error_map.hpp"

#include <map>
#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using namespace cartd;

namespace {

struct row {
  unsigned status;
  const char* message;
};

// Every cart_errc, its status and its message, as clients see them.
const std::map<cart_errc, row> expected = {
    {cart_errc::none, {200, "no error"}},
    {cart_errc::invalid_item_id,
     {400, "item ids are 1 to 128 bytes of UTF-8 without control characters"}},
    {cart_errc::invalid_quantity,
     {400, "quantity must be an integer from 1 to 1000000 (0 allowed when "
           "setting)"}},
    {cart_errc::line_quantity_exceeded,
     {409, "a line cannot hold more than 1000000000 units"}},
    {cart_errc::cart_full,
     {409, "the cart has the maximum number of distinct items"}},
    {cart_errc::checked_out,
     {409, "the cart is checked out and accepts no further change"}},
    {cart_errc::empty_cart, {409, "an empty cart cannot be checked out"}},
    {cart_errc::item_not_found, {404, "the item is not in the cart"}},
    {cart_errc::version_mismatch,
     {412, "the cart's version does not match If-Match"}},
    {cart_errc::invalid_cart_id,
     {400, "cart ids are 1 to 128 characters of A-Z a-z 0-9 . _ ~ -"}},
    {cart_errc::overloaded,
     {503, "too many changes are queued for this cart; retry later"}},
    {cart_errc::unavailable,
     {503, "the cart is unavailable right now; retry later"}},
    {cart_errc::storage_failure,
     {503, "the change could not be stored; nothing was changed"}},
    {cart_errc::crashed,
     {500, "the cart crashed and was restarted with its stored state; a change "
           "in flight may or may not have been applied (retry with the same "
           "Idempotency-Key to find out)"}},
    {cart_errc::timeout,
     {503, "the request did not complete (no answer in time, or the store lost "
           "the commit's outcome); a change may or may not have been applied "
           "(retry with the same Idempotency-Key to find out)"}},
    {cart_errc::idempotency_key_reused,
     {422, "this Idempotency-Key was used for a different request"}},
};

nlohmann::json body_of(const http::response& res) {
  return nlohmann::json::parse(res.body);
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_map_tests)

BOOST_AUTO_TEST_CASE(every_cart_error_has_its_status_and_message) {
  // Every value with a name (to_string knows it) must be in the table, so a
  // new cart_errc fails here until it is given a status and a message.
  size_t named = 0;
  for (int i = 0; i <= 255; ++i) {
    auto code = static_cast<cart_errc>(i);
    if (std::string{to_string(code)} == "unknown")
      continue;
    ++named;
    BOOST_TEST_CONTEXT("cart_errc " << to_string(code)) {
      auto row = expected.find(code);
      BOOST_REQUIRE(row != expected.end());
      BOOST_TEST(status_for(code) == row->second.status);
      BOOST_TEST(std::string{message_for(code)} == row->second.message);
      auto res = error_reply(code);
      BOOST_TEST(res.status == row->second.status);
      BOOST_TEST(res.content_type == "application/json");
      BOOST_TEST(res.headers.empty());
      auto body = body_of(res);
      BOOST_TEST(body.size() == 2u);
      BOOST_TEST(body["error"] == to_string(code));
      BOOST_TEST(body["message"] == row->second.message);
    }
  }
  BOOST_TEST(named == expected.size());
}

BOOST_AUTO_TEST_CASE(a_detail_is_appended_in_parentheses) {
  auto res = error_reply(cart_errc::unavailable, "journal down");
  BOOST_TEST(res.status == 503u);
  BOOST_TEST(body_of(res)["message"] ==
             "the cart is unavailable right now; retry later (journal "
             "down)");
}

BOOST_AUTO_TEST_CASE(crashed_and_timeout_never_show_a_detail) {
  for (auto code : {cart_errc::crashed, cart_errc::timeout}) {
    auto res = error_reply(code, "internal detail");
    BOOST_TEST(body_of(res)["message"] == message_for(code));
  }
}

BOOST_AUTO_TEST_CASE(a_detail_that_is_not_utf8_still_renders_valid_json) {
  auto res = error_reply(cart_errc::invalid_item_id, "\xff\xfe");
  BOOST_CHECK_NO_THROW(body_of(res));
}

BOOST_AUTO_TEST_SUITE_END()
