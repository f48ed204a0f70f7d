#include "actors/cart/model/cart.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/actors/cart/model/print.hpp"

using namespace cartd;

namespace {

std::string repeat(std::string_view piece, size_t times) {
  std::string result;
  for (size_t i = 0; i < times; ++i)
    result += piece;
  return result;
}

// Byte strings as hex escapes so the test shows exactly what is checked.
void check_item_ids(const std::vector<std::string>& ids, bool expected) {
  for (const auto& id : ids) {
    BOOST_TEST_CONTEXT("item id of "
                       << id.size() << " bytes, byte[0]=0x" << std::hex
                       << int(static_cast<unsigned char>(id.empty() ? 0
                                                                    : id[0]))) {
      BOOST_TEST(valid_item_id(id) == expected);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(item_id_validation)

BOOST_AUTO_TEST_CASE(an_empty_item_id_is_invalid) {
  BOOST_TEST(!valid_item_id(""));
}

BOOST_AUTO_TEST_CASE(item_ids_of_one_to_128_ascii_bytes_are_valid) {
  check_item_ids({"a", "SKU-42", " ", "~", repeat("x", 127), repeat("x", 128)},
                 true);
}

BOOST_AUTO_TEST_CASE(item_ids_longer_than_128_bytes_are_invalid) {
  check_item_ids({repeat("x", 129), repeat("x", 1000)}, false);
}

BOOST_AUTO_TEST_CASE(the_size_limit_counts_bytes_not_characters) {
  // U+00E9 is 2 bytes, U+20AC 3 bytes, U+1F600 4 bytes.
  check_item_ids({repeat("\xC3\xA9", 64), repeat("\xE2\x82\xAC", 42) + "xy",
                  repeat("\xF0\x9F\x98\x80", 32)},
                 true);
  check_item_ids({repeat("\xC3\xA9", 65), repeat("\xE2\x82\xAC", 43),
                  repeat("\xF0\x9F\x98\x80", 32) + "x",
                  repeat("x", 127) + "\xC3\xA9"},
                 false);
}

BOOST_AUTO_TEST_CASE(well_formed_multi_byte_boundaries_are_valid) {
  check_item_ids(
      {
          "\xC2\xA0",         // U+00A0, first after C1 controls
          "\xDF\xBF",         // U+07FF, last 2-byte
          "\xE0\xA0\x80",     // U+0800, first 3-byte
          "\xED\x9F\xBF",     // U+D7FF, before surrogates
          "\xEE\x80\x80",     // U+E000, after surrogates
          "\xEF\xBF\xBF",     // U+FFFF, last 3-byte
          "\xF0\x90\x80\x80", // U+10000, first 4-byte
          "\xF4\x8F\xBF\xBF", // U+10FFFF, last code point
          "caf\xC3\xA9-\xE6\x97\xA5\xE6\x9C\xAC",
      },
      true);
}

BOOST_AUTO_TEST_CASE(overlong_encodings_are_invalid) {
  check_item_ids(
      {
          "\xC0\x80",         // U+0000 in 2 bytes
          "\xC0\xAF",         // '/' in 2 bytes
          "\xC1\xBF",         // U+007F in 2 bytes
          "\xE0\x80\x80",     // U+0000 in 3 bytes
          "\xE0\x9F\xBF",     // U+07FF in 3 bytes
          "\xF0\x80\x80\x80", // U+0000 in 4 bytes
          "\xF0\x8F\xBF\xBF", // U+FFFF in 4 bytes
      },
      false);
}

BOOST_AUTO_TEST_CASE(surrogates_are_invalid) {
  check_item_ids(
      {
          "\xED\xA0\x80",             // U+D800
          "\xED\xBF\xBF",             // U+DFFF
          "\xED\xA0\xBD\xED\xB8\x80", // CESU-8 pair for U+1F600
          "a\xED\xB0\x80z",           // lone low surrogate
      },
      false);
}

BOOST_AUTO_TEST_CASE(code_points_above_10ffff_and_bad_lead_bytes_are_invalid) {
  check_item_ids(
      {
          "\xF4\x90\x80\x80",         // U+110000
          "\xF5\x80\x80\x80",         // lead byte F5
          "\xF7\xBF\xBF\xBF",         // U+1FFFFF
          "\xF8\x88\x80\x80\x80",     // 5-byte form
          "\xFC\x84\x80\x80\x80\x80", // 6-byte form
          "\xFE",
          "\xFF",
      },
      false);
}

BOOST_AUTO_TEST_CASE(truncated_sequences_and_stray_continuations_are_invalid) {
  check_item_ids(
      {
          "\xC3",         // 2-byte lead at the end
          "a\xE2\x82",    // 3-byte sequence missing a byte
          "\xF0\x9F\x98", // 4-byte sequence missing a byte
          "\xE2\x82"
          "a",            // continuation replaced by ASCII
          "\xC3\xC3\xA9", // lead followed by a lead
          "\xC3\xE9",     // Latin-1 byte as continuation
          "\xE2\x82\xEC", // last continuation is a lead
          "\x80",         // lone continuation
          "a\xBF",        // continuation after ASCII
          "\xC3\xA9\xA9", // one continuation too many
      },
      false);
}

BOOST_AUTO_TEST_CASE(control_characters_are_invalid) {
  check_item_ids(
      {
          std::string("\0", 1),       // U+0000
          std::string("a\0b", 3),     // embedded U+0000
          "\x01", "\t", "a\nb", "\r", // C0
          "\x1F",                     // last C0
          "\x7F",                     // DEL
          "\xC2\x80",                 // U+0080, first C1
          "x\xC2\x85y",               // U+0085, NEL
          "\xC2\x9F",                 // U+009F, last C1
      },
      false);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cart_id_validation)

BOOST_AUTO_TEST_CASE(cart_ids_of_the_allowed_characters_are_valid) {
  for (std::string id :
       {std::string{"a"}, std::string{"Cart_1.2~x-Y"},
        std::string{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789._~-"},
        std::string(128, 'z'), std::string{"-"}, std::string{"..."}}) {
    BOOST_TEST_CONTEXT("cart id " << id) {
      BOOST_TEST(valid_cart_id(id));
    }
  }
}

BOOST_AUTO_TEST_CASE(cart_ids_empty_or_longer_than_128_are_invalid) {
  BOOST_TEST(!valid_cart_id(""));
  BOOST_TEST(!valid_cart_id(std::string(129, 'z')));
}

BOOST_AUTO_TEST_CASE(cart_ids_with_other_characters_are_invalid) {
  for (std::string id :
       {std::string{"a b"}, std::string{"a/b"}, std::string{"a%20"},
        std::string{"a+b"}, std::string{"a:b"}, std::string{"a!"},
        std::string{"caf\xC3\xA9"}, std::string("a\0", 2), std::string{"a\n"},
        std::string{"@"}, std::string{"`"}, std::string{"["},
        std::string{"{"}}) {
    BOOST_TEST_CONTEXT("cart id of " << id.size() << " bytes") {
      BOOST_TEST(!valid_cart_id(id));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(names_and_equality)

BOOST_AUTO_TEST_CASE(to_string_returns_the_name_of_each_error) {
  std::vector<std::pair<cart_errc, std::string>> names{
      {cart_errc::none, "none"},
      {cart_errc::invalid_item_id, "invalid_item_id"},
      {cart_errc::invalid_quantity, "invalid_quantity"},
      {cart_errc::line_quantity_exceeded, "line_quantity_exceeded"},
      {cart_errc::cart_full, "cart_full"},
      {cart_errc::checked_out, "checked_out"},
      {cart_errc::empty_cart, "empty_cart"},
      {cart_errc::item_not_found, "item_not_found"},
      {cart_errc::version_mismatch, "version_mismatch"},
      {cart_errc::invalid_cart_id, "invalid_cart_id"},
      {cart_errc::overloaded, "overloaded"},
      {cart_errc::unavailable, "unavailable"},
      {cart_errc::storage_failure, "storage_failure"},
      {cart_errc::crashed, "crashed"},
      {cart_errc::timeout, "timeout"},
      {cart_errc::idempotency_key_reused, "idempotency_key_reused"},
  };
  BOOST_TEST(names.size() ==
             static_cast<size_t>(cart_errc::idempotency_key_reused) + 1);
  for (const auto& [code, name] : names)
    BOOST_TEST(to_string(code) == name);
}

BOOST_AUTO_TEST_CASE(carts_are_equal_only_if_every_field_is) {
  cart x;
  x.lines = {{"apple", 2}};
  x.version = 3;
  auto y = x;
  BOOST_TEST(x == y);
  BOOST_TEST(!(x != y));
  y.lines["apple"] = 3;
  BOOST_TEST(x != y);
  y = x;
  y.lines["pear"] = 2;
  BOOST_TEST(x != y);
  y = x;
  y.checked_out = true;
  BOOST_TEST(x != y);
  y = x;
  y.version = 4;
  BOOST_TEST(x != y);
}

BOOST_AUTO_TEST_CASE(events_are_equal_only_if_type_and_fields_are) {
  BOOST_TEST((cart_event{item_added{"a", 1}} == item_added{"a", 1}));
  BOOST_TEST((cart_event{item_added{"a", 1}} != item_added{"a", 2}));
  BOOST_TEST((cart_event{item_added{"a", 1}} != item_added{"b", 1}));
  BOOST_TEST((cart_event{item_added{"a", 1}} != item_quantity_set{"a", 1}));
  BOOST_TEST(
      (cart_event{item_quantity_set{"a", 1}} == item_quantity_set{"a", 1}));
  BOOST_TEST(
      (cart_event{item_quantity_set{"a", 1}} != item_quantity_set{"a", 2}));
  BOOST_TEST((cart_event{item_removed{"a"}} == item_removed{"a"}));
  BOOST_TEST((cart_event{item_removed{"a"}} != item_removed{"b"}));
  BOOST_TEST((cart_event{cart_cleared{}} == cart_cleared{}));
  BOOST_TEST((cart_event{cart_checked_out{}} == cart_checked_out{}));
  BOOST_TEST((cart_event{cart_cleared{}} != cart_checked_out{}));
}

BOOST_AUTO_TEST_SUITE_END()
