#include "actors/cart/model/cart.hpp"

#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/actors/cart/model/print.hpp"

using namespace cartd;

namespace {

cart expected_cart(std::map<std::string, int64_t, std::less<>> lines,
                   bool checked_out, uint64_t version) {
  cart result;
  result.lines = std::move(lines);
  result.checked_out = checked_out;
  result.version = version;
  return result;
}

/// Runs each command through decide and folds the accepted events into the
/// cart, the way the cart actor does. Returns the errors, one per command.
std::vector<cart_errc> run_script(cart& state,
                                  const std::vector<cart_command>& script,
                                  const cart_limits& limits = cart_limits{}) {
  std::vector<cart_errc> errors;
  for (const auto& cmd : script) {
    auto d = decide(state, cmd, limits);
    errors.push_back(d.error);
    for (const auto& ev : d.events)
      state = apply(std::move(state), ev);
  }
  return errors;
}

} // namespace

BOOST_AUTO_TEST_SUITE(apply_events)

BOOST_AUTO_TEST_CASE(item_added_creates_a_line) {
  auto result = apply(cart{}, item_added{"apple", 3});
  BOOST_TEST(result == expected_cart({{"apple", 3}}, false, 1));
}

BOOST_AUTO_TEST_CASE(item_added_to_an_existing_line_sums_the_quantities) {
  auto result =
      apply(expected_cart({{"apple", 3}}, false, 1), item_added{"apple", 4});
  BOOST_TEST(result == expected_cart({{"apple", 7}}, false, 2));
}

BOOST_AUTO_TEST_CASE(item_quantity_set_replaces_the_quantity) {
  auto result = apply(expected_cart({{"apple", 3}}, false, 1),
                      item_quantity_set{"apple", 10});
  BOOST_TEST(result == expected_cart({{"apple", 10}}, false, 2));
}

BOOST_AUTO_TEST_CASE(item_quantity_set_creates_an_absent_line) {
  auto result = apply(cart{}, item_quantity_set{"pear", 2});
  BOOST_TEST(result == expected_cart({{"pear", 2}}, false, 1));
}

BOOST_AUTO_TEST_CASE(item_removed_erases_only_its_line) {
  auto result = apply(expected_cart({{"apple", 3}, {"pear", 1}}, false, 2),
                      item_removed{"apple"});
  BOOST_TEST(result == expected_cart({{"pear", 1}}, false, 3));
}

BOOST_AUTO_TEST_CASE(cart_cleared_removes_every_line) {
  auto result = apply(expected_cart({{"apple", 3}, {"pear", 1}}, false, 2),
                      cart_cleared{});
  BOOST_TEST(result == expected_cart({}, false, 3));
}

BOOST_AUTO_TEST_CASE(cart_checked_out_marks_the_cart_and_keeps_its_lines) {
  auto result =
      apply(expected_cart({{"apple", 3}}, false, 1), cart_checked_out{});
  BOOST_TEST(result == expected_cart({{"apple", 3}}, true, 2));
}

BOOST_AUTO_TEST_CASE(apply_never_refuses_an_event) {
  // Events are facts from the journal: even one that decide would never
  // produce for this state is applied and counted.
  auto checked_out = expected_cart({{"apple", 1}}, true, 2);
  auto result = apply(checked_out, item_added{"pear", 1});
  BOOST_TEST(result == expected_cart({{"apple", 1}, {"pear", 1}}, true, 3));
  result = apply(cart{}, item_removed{"ghost"});
  BOOST_TEST(result == expected_cart({}, false, 1));
}

BOOST_AUTO_TEST_CASE(every_event_increments_the_version_by_one) {
  std::vector<cart_event> events{
      item_added{"apple", 1}, item_quantity_set{"apple", 2},
      item_removed{"apple"}, cart_cleared{}, cart_checked_out{}};
  for (const auto& ev : events) {
    BOOST_TEST_CONTEXT("event index " << ev.index()) {
      auto before = expected_cart({{"apple", 1}}, false, 41);
      BOOST_TEST(apply(before, ev).version == 42u);
    }
  }
}

BOOST_AUTO_TEST_CASE(apply_in_place_matches_apply) {
  std::vector<cart_event> events{item_added{"apple", 1},
                                 item_added{"pear", 5},
                                 item_quantity_set{"apple", 2},
                                 item_removed{"pear"},
                                 cart_cleared{},
                                 item_added{"plum", 3},
                                 cart_checked_out{}};
  cart by_value;
  cart in_place;
  for (const auto& ev : events) {
    by_value = apply(by_value, ev);
    apply_in_place(in_place, ev);
    BOOST_TEST(in_place == by_value);
  }
  BOOST_TEST(in_place == expected_cart({{"plum", 3}}, true, 7));
}

BOOST_AUTO_TEST_CASE(total_quantity_sums_every_line) {
  BOOST_TEST(cart{}.total_quantity() == 0);
  auto state = expected_cart({{"apple", 3}, {"pear", 1'000'000'000}}, false, 2);
  BOOST_TEST(state.total_quantity() == 1'000'000'003);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fold_of_decided_events)

BOOST_AUTO_TEST_CASE(a_shopping_session_folds_into_the_expected_cart) {
  using step = std::pair<cart_command, cart_errc>;
  auto ok = cart_errc::none;
  std::vector<step> session{
      {add_item{"apple", 3}, ok},          // apple 3
      {add_item{"pear", 1}, ok},           // pear 1
      {add_item{"apple", 2}, ok},          // apple 5
      {remove_one_unit{"apple"}, ok},      // apple 4
      {remove_one_unit{"pear"}, ok},       // pear gone
      {set_item_quantity{"plum", 7}, ok},  // plum 7
      {set_item_quantity{"apple", 0}, ok}, // apple gone
      {remove_item{"apple"}, cart_errc::item_not_found},
      {add_item{"kiwi", 0}, cart_errc::invalid_quantity},
      {add_item{"kiwi", 1}, ok}, // kiwi 1
      {checkout{}, ok},
      {add_item{"fig", 1}, cart_errc::checked_out},
  };
  std::vector<cart_command> script;
  std::vector<cart_errc> expected_errors;
  for (const auto& [cmd, error] : session) {
    script.push_back(cmd);
    expected_errors.push_back(error);
  }
  cart state;
  auto errors = run_script(state, script);
  BOOST_TEST(errors == expected_errors, boost::test_tools::per_element());
  // Nine accepted commands, nine events: version counts only those.
  BOOST_TEST(state == expected_cart({{"kiwi", 1}, {"plum", 7}}, true, 9));
}

BOOST_AUTO_TEST_CASE(clearing_then_refilling_folds_into_the_expected_cart) {
  cart state;
  auto errors =
      run_script(state, {
                            clear_cart{}, // allowed on an empty cart, version 1
                            add_item{"apple", 1},
                            clear_cart{},
                            checkout{}, // refused: empty_cart
                            add_item{"pear", 2},
                        });
  BOOST_TEST(errors.at(3) == cart_errc::empty_cart);
  BOOST_TEST(state == expected_cart({{"pear", 2}}, false, 4));
}

BOOST_AUTO_TEST_CASE(folding_adds_stops_at_the_line_cap) {
  cart state;
  std::vector<cart_command> script(1001, add_item{"apple", 1'000'000});
  auto errors = run_script(state, script);
  BOOST_TEST(errors.at(999) == cart_errc::none);
  BOOST_TEST(errors.at(1000) == cart_errc::line_quantity_exceeded);
  BOOST_TEST(state ==
             expected_cart({{"apple", max_line_quantity}}, false, 1000));
}

BOOST_AUTO_TEST_CASE(folding_adds_stops_at_max_lines) {
  cart_limits limits;
  limits.max_lines = 2;
  cart state;
  auto errors = run_script(state,
                           {add_item{"apple", 1}, add_item{"pear", 1},
                            add_item{"plum", 1}, add_item{"apple", 1}},
                           limits);
  BOOST_TEST(errors.at(2) == cart_errc::cart_full);
  BOOST_TEST(errors.at(3) == cart_errc::none);
  BOOST_TEST(state == expected_cart({{"apple", 2}, {"pear", 1}}, false, 3));
}

BOOST_AUTO_TEST_SUITE_END()
