#include "actors/cart/model/cart.hpp"

#include <limits>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "tests/actors/cart/model/print.hpp"

using namespace cartd;

namespace {

/// A cart holding `lines`, as if each line had been added by one event.
cart cart_with(std::map<std::string, int64_t, std::less<>> lines) {
  cart result;
  result.version = lines.size();
  result.lines = std::move(lines);
  return result;
}

cart checked_out_cart() {
  auto result = cart_with({{"apple", 2}});
  result.checked_out = true;
  ++result.version;
  return result;
}

cart_limits max_lines(size_t n) {
  cart_limits result;
  result.max_lines = n;
  return result;
}

decision run(const cart& state, const cart_command& cmd,
             const cart_limits& limits = cart_limits{}) {
  return decide(state, cmd, limits);
}

std::vector<cart_event> one(cart_event ev) {
  return {std::move(ev)};
}

/// Every command, each valid on its own, for tests that cover all of them.
std::vector<cart_command> all_commands() {
  return {add_item{"apple", 1}, set_item_quantity{"apple", 3},
          remove_item{"apple"}, remove_one_unit{"apple"},
          clear_cart{},         checkout{}};
}

constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();

} // namespace

BOOST_AUTO_TEST_SUITE(decide_add_item)

BOOST_AUTO_TEST_CASE(adding_to_an_empty_cart_yields_item_added) {
  auto d = run(cart{}, add_item{"apple", 3});
  BOOST_TEST(d.error == cart_errc::none);
  BOOST_TEST(d.accepted());
  BOOST_TEST(d.events == one(item_added{"apple", 3}));
}

BOOST_AUTO_TEST_CASE(adding_to_an_existing_line_yields_only_the_added_units) {
  auto d = run(cart_with({{"apple", 5}}), add_item{"apple", 2});
  BOOST_TEST(d.events == one(item_added{"apple", 2}));
}

BOOST_AUTO_TEST_CASE(add_accepts_quantities_from_one_to_one_million) {
  for (int64_t q :
       {int64_t{1}, int64_t{2}, int64_t{999'999}, int64_t{1'000'000}}) {
    BOOST_TEST_CONTEXT("quantity " << q) {
      auto d = run(cart{}, add_item{"apple", q});
      BOOST_TEST(d.error == cart_errc::none);
      BOOST_TEST(d.events == one(item_added{"apple", q}));
    }
  }
}

BOOST_AUTO_TEST_CASE(add_rejects_quantities_outside_one_to_one_million) {
  for (int64_t q : {int64_t{0}, int64_t{-1}, int64_t{1'000'001},
                    int64_t{1'000'000'000}, int64_min}) {
    BOOST_TEST_CONTEXT("quantity " << q) {
      auto d = run(cart{}, add_item{"apple", q});
      BOOST_TEST(d.error == cart_errc::invalid_quantity);
      BOOST_TEST(d.events.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(add_rejects_an_invalid_item_id) {
  for (std::string id : {std::string{}, std::string(129, 'a'),
                         std::string{"a\nb"}, std::string{"\xC3"}}) {
    BOOST_TEST_CONTEXT("item id of " << id.size() << " bytes") {
      BOOST_TEST(run(cart{}, add_item{id, 1}).error ==
                 cart_errc::invalid_item_id);
    }
  }
}

BOOST_AUTO_TEST_CASE(add_checks_the_item_id_before_the_quantity) {
  BOOST_TEST(run(cart{}, add_item{"", 0}).error == cart_errc::invalid_item_id);
}

BOOST_AUTO_TEST_CASE(add_may_fill_a_line_to_exactly_one_billion) {
  auto d =
      run(cart_with({{"apple", 999'000'000}}), add_item{"apple", 1'000'000});
  BOOST_TEST(d.events == one(item_added{"apple", 1'000'000}));
  d = run(cart_with({{"apple", 999'999'999}}), add_item{"apple", 1});
  BOOST_TEST(d.events == one(item_added{"apple", 1}));
}

BOOST_AUTO_TEST_CASE(add_beyond_one_billion_on_a_line_is_rejected) {
  auto d = run(cart_with({{"apple", 999'999'999}}), add_item{"apple", 2});
  BOOST_TEST(d.error == cart_errc::line_quantity_exceeded);
  BOOST_TEST(d.events.empty());
  d = run(cart_with({{"apple", 1'000'000'000}}), add_item{"apple", 1});
  BOOST_TEST(d.error == cart_errc::line_quantity_exceeded);
}

BOOST_AUTO_TEST_CASE(line_cap_applies_per_line_not_per_cart) {
  auto full_line = cart_with({{"apple", 1'000'000'000}});
  BOOST_TEST(run(full_line, add_item{"pear", 1'000'000}).error ==
             cart_errc::none);
}

BOOST_AUTO_TEST_CASE(add_of_a_new_line_up_to_max_lines_is_accepted) {
  auto d = run(cart_with({{"apple", 1}}), add_item{"pear", 1}, max_lines(2));
  BOOST_TEST(d.events == one(item_added{"pear", 1}));
}

BOOST_AUTO_TEST_CASE(add_of_a_new_line_beyond_max_lines_is_rejected) {
  auto state = cart_with({{"apple", 1}, {"pear", 1}});
  auto d = run(state, add_item{"plum", 1}, max_lines(2));
  BOOST_TEST(d.error == cart_errc::cart_full);
  BOOST_TEST(d.events.empty());
  BOOST_TEST(run(cart{}, add_item{"plum", 1}, max_lines(0)).error ==
             cart_errc::cart_full);
}

BOOST_AUTO_TEST_CASE(add_to_an_existing_line_of_a_full_cart_is_accepted) {
  auto state = cart_with({{"apple", 1}, {"pear", 1}});
  auto d = run(state, add_item{"pear", 4}, max_lines(2));
  BOOST_TEST(d.events == one(item_added{"pear", 4}));
}

BOOST_AUTO_TEST_CASE(default_limits_allow_one_thousand_lines) {
  cart state;
  for (int i = 0; i < 999; ++i)
    state.lines.emplace("item-" + std::to_string(i), 1);
  BOOST_TEST(run(state, add_item{"last", 1}).error == cart_errc::none);
  state.lines.emplace("last", 1);
  BOOST_TEST(run(state, add_item{"one-too-many", 1}).error ==
             cart_errc::cart_full);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decide_set_item_quantity)

BOOST_AUTO_TEST_CASE(set_of_an_existing_line_yields_item_quantity_set) {
  auto d = run(cart_with({{"apple", 5}}), set_item_quantity{"apple", 2});
  BOOST_TEST(d.events == one(item_quantity_set{"apple", 2}));
}

BOOST_AUTO_TEST_CASE(set_of_an_absent_item_creates_the_line) {
  auto d = run(cart{}, set_item_quantity{"apple", 7});
  BOOST_TEST(d.events == one(item_quantity_set{"apple", 7}));
}

BOOST_AUTO_TEST_CASE(set_to_zero_removes_the_line) {
  auto d = run(cart_with({{"apple", 5}}), set_item_quantity{"apple", 0});
  BOOST_TEST(d.events == one(item_removed{"apple"}));
}

BOOST_AUTO_TEST_CASE(set_to_zero_of_an_absent_item_is_rejected) {
  auto d = run(cart_with({{"apple", 5}}), set_item_quantity{"pear", 0});
  BOOST_TEST(d.error == cart_errc::item_not_found);
  BOOST_TEST(d.events.empty());
}

BOOST_AUTO_TEST_CASE(set_accepts_quantities_from_zero_to_one_million) {
  auto state = cart_with({{"apple", 5}});
  for (int64_t q : {int64_t{0}, int64_t{1}, int64_t{1'000'000}}) {
    BOOST_TEST_CONTEXT("quantity " << q) {
      BOOST_TEST(run(state, set_item_quantity{"apple", q}).error ==
                 cart_errc::none);
    }
  }
  BOOST_TEST(run(state, set_item_quantity{"apple", 1'000'000}).events ==
             one(item_quantity_set{"apple", 1'000'000}));
}

BOOST_AUTO_TEST_CASE(set_rejects_quantities_outside_zero_to_one_million) {
  auto state = cart_with({{"apple", 5}});
  for (int64_t q : {int64_t{-1}, int64_t{1'000'001}, int64_min}) {
    BOOST_TEST_CONTEXT("quantity " << q) {
      auto d = run(state, set_item_quantity{"apple", q});
      BOOST_TEST(d.error == cart_errc::invalid_quantity);
      BOOST_TEST(d.events.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(set_rejects_an_invalid_item_id) {
  BOOST_TEST(run(cart{}, set_item_quantity{"", 1}).error ==
             cart_errc::invalid_item_id);
  BOOST_TEST(run(cart{}, set_item_quantity{std::string(129, 'x'), 1}).error ==
             cart_errc::invalid_item_id);
  // Argument errors come before the item_not_found state rule.
  BOOST_TEST(run(cart{}, set_item_quantity{"\x7F", 0}).error ==
             cart_errc::invalid_item_id);
}

BOOST_AUTO_TEST_CASE(set_of_an_absent_item_in_a_full_cart_is_rejected) {
  auto state = cart_with({{"apple", 1}, {"pear", 1}});
  auto d = run(state, set_item_quantity{"plum", 1}, max_lines(2));
  BOOST_TEST(d.error == cart_errc::cart_full);
  BOOST_TEST(d.events.empty());
}

BOOST_AUTO_TEST_CASE(set_of_an_existing_line_in_a_full_cart_is_accepted) {
  auto state = cart_with({{"apple", 1}, {"pear", 1}});
  auto d = run(state, set_item_quantity{"pear", 9}, max_lines(2));
  BOOST_TEST(d.events == one(item_quantity_set{"pear", 9}));
  d = run(state, set_item_quantity{"pear", 0}, max_lines(2));
  BOOST_TEST(d.events == one(item_removed{"pear"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decide_remove)

BOOST_AUTO_TEST_CASE(remove_of_an_existing_line_yields_item_removed) {
  auto d = run(cart_with({{"apple", 5}}), remove_item{"apple"});
  BOOST_TEST(d.events == one(item_removed{"apple"}));
}

BOOST_AUTO_TEST_CASE(remove_of_an_absent_item_is_rejected) {
  auto d = run(cart_with({{"apple", 5}}), remove_item{"pear"});
  BOOST_TEST(d.error == cart_errc::item_not_found);
  BOOST_TEST(d.events.empty());
}

BOOST_AUTO_TEST_CASE(remove_rejects_an_invalid_item_id) {
  BOOST_TEST(run(cart{}, remove_item{""}).error == cart_errc::invalid_item_id);
}

BOOST_AUTO_TEST_CASE(removing_the_last_unit_of_a_line_yields_item_removed) {
  auto d = run(cart_with({{"apple", 1}}), remove_one_unit{"apple"});
  BOOST_TEST(d.events == one(item_removed{"apple"}));
}

BOOST_AUTO_TEST_CASE(removing_one_unit_of_a_larger_line_decrements_it) {
  auto d = run(cart_with({{"apple", 5}}), remove_one_unit{"apple"});
  BOOST_TEST(d.events == one(item_quantity_set{"apple", 4}));
  d = run(cart_with({{"apple", 2}}), remove_one_unit{"apple"});
  BOOST_TEST(d.events == one(item_quantity_set{"apple", 1}));
}

BOOST_AUTO_TEST_CASE(removing_one_unit_of_an_absent_item_is_rejected) {
  auto d = run(cart_with({{"apple", 5}}), remove_one_unit{"pear"});
  BOOST_TEST(d.error == cart_errc::item_not_found);
  BOOST_TEST(d.events.empty());
}

BOOST_AUTO_TEST_CASE(remove_one_unit_rejects_an_invalid_item_id) {
  BOOST_TEST(run(cart{}, remove_one_unit{"\xC0\x80"}).error ==
             cart_errc::invalid_item_id);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decide_clear_and_checkout)

BOOST_AUTO_TEST_CASE(clearing_a_cart_with_lines_yields_cart_cleared) {
  auto d = run(cart_with({{"apple", 5}, {"pear", 1}}), clear_cart{});
  BOOST_TEST(d.events == one(cart_cleared{}));
}

BOOST_AUTO_TEST_CASE(clearing_an_empty_open_cart_still_yields_one_event) {
  auto d = run(cart{}, clear_cart{});
  BOOST_TEST(d.error == cart_errc::none);
  BOOST_TEST(d.events == one(cart_cleared{}));
}

BOOST_AUTO_TEST_CASE(checkout_of_empty_cart_is_rejected) {
  auto d = run(cart{}, checkout{});
  BOOST_TEST(d.error == cart_errc::empty_cart);
  BOOST_TEST(d.events.empty());
}

BOOST_AUTO_TEST_CASE(checkout_of_a_cart_with_lines_yields_cart_checked_out) {
  auto d = run(cart_with({{"apple", 1}}), checkout{});
  BOOST_TEST(d.events == one(cart_checked_out{}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decide_after_checkout)

BOOST_AUTO_TEST_CASE(every_command_after_checkout_is_rejected_as_checked_out) {
  auto state = checked_out_cart();
  auto commands = all_commands();
  // Commands that would hit a state rule on an open cart still get
  // checked_out: the status is checked before the lines.
  commands.insert(commands.end(),
                  {add_item{"pear", 1}, add_item{"apple", 1'000'000},
                   set_item_quantity{"pear", 0}, set_item_quantity{"apple", 0},
                   remove_item{"pear"}, remove_one_unit{"pear"}});
  for (const auto& cmd : commands) {
    BOOST_TEST_CONTEXT("command index " << cmd.index()) {
      auto d = run(state, cmd);
      BOOST_TEST(d.error == cart_errc::checked_out);
      BOOST_TEST(d.events.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(checked_out_comes_before_cart_full_and_line_cap) {
  auto state = checked_out_cart();
  BOOST_TEST(run(state, add_item{"pear", 1}, max_lines(1)).error ==
             cart_errc::checked_out);
  state.lines["apple"] = max_line_quantity;
  BOOST_TEST(run(state, add_item{"apple", 1}).error == cart_errc::checked_out);
}

BOOST_AUTO_TEST_CASE(checkout_of_an_emptied_checked_out_cart_is_checked_out) {
  auto state = checked_out_cart();
  state.lines.clear();
  BOOST_TEST(run(state, checkout{}).error == cart_errc::checked_out);
}

BOOST_AUTO_TEST_CASE(argument_errors_come_before_checked_out) {
  auto state = checked_out_cart();
  BOOST_TEST(run(state, add_item{"", 1}).error == cart_errc::invalid_item_id);
  BOOST_TEST(run(state, add_item{"apple", 0}).error ==
             cart_errc::invalid_quantity);
  BOOST_TEST(run(state, set_item_quantity{"\x01", 1}).error ==
             cart_errc::invalid_item_id);
  BOOST_TEST(run(state, set_item_quantity{"apple", -1}).error ==
             cart_errc::invalid_quantity);
  BOOST_TEST(run(state, remove_item{""}).error == cart_errc::invalid_item_id);
  BOOST_TEST(run(state, remove_one_unit{""}).error ==
             cart_errc::invalid_item_id);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(decide_in_general)

BOOST_AUTO_TEST_CASE(every_accepted_command_yields_exactly_one_event) {
  auto state = cart_with({{"apple", 5}});
  for (const auto& cmd : all_commands()) {
    BOOST_TEST_CONTEXT("command index " << cmd.index()) {
      auto d = run(state, cmd);
      BOOST_TEST(d.accepted());
      BOOST_TEST(d.events.size() == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_refused_decision_is_not_accepted) {
  auto d = run(cart{}, checkout{});
  BOOST_TEST(!d.accepted());
}

BOOST_AUTO_TEST_SUITE_END()
