#define BOOST_TEST_MODULE runtime_cluster_placement
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cluster/placement.hpp"

using namespace cartd;

namespace {

constexpr size_t cart_count = 100'000;

std::vector<std::string> members(size_t n) {
  std::vector<std::string> result;
  for (size_t i = 1; i <= n; ++i)
    result.push_back("node-" + std::to_string(i));
  return result;
}

std::string cart_id(size_t i) {
  return "cart-" + std::to_string(i);
}

/// The owner's name of every cart 0..cart_count-1 among `owners`.
std::vector<std::string> owners_of_all(const std::vector<std::string>& owners) {
  std::vector<std::string> result;
  result.reserve(cart_count);
  for (size_t i = 0; i < cart_count; ++i) {
    auto index = owner_index(owners, cart_id(i));
    BOOST_REQUIRE_LT(index, owners.size());
    result.push_back(owners[index]);
  }
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_node_gets_its_share_within_ten_percent) {
  for (size_t n = 2; n <= 10; ++n) {
    auto owners = members(n);
    std::vector<size_t> counts(n, 0);
    for (size_t i = 0; i < cart_count; ++i)
      ++counts[owner_index(owners, cart_id(i))];
    double share = static_cast<double>(cart_count) / static_cast<double>(n);
    for (size_t k = 0; k < n; ++k) {
      BOOST_TEST_CONTEXT(n << " nodes, " << owners[k] << " owns " << counts[k]
                           << " of " << cart_count) {
        BOOST_CHECK_GE(static_cast<double>(counts[k]), share * 0.9);
        BOOST_CHECK_LE(static_cast<double>(counts[k]), share * 1.1);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(
    a_join_moves_about_one_in_n_plus_one_and_only_to_the_new_node) {
  for (size_t n = 2; n <= 9; ++n) {
    auto before = owners_of_all(members(n));
    auto grown = members(n + 1);
    auto after = owners_of_all(grown);
    size_t moved = 0;
    size_t moved_elsewhere = 0;
    for (size_t i = 0; i < cart_count; ++i) {
      if (before[i] == after[i])
        continue;
      ++moved;
      if (after[i] != grown.back())
        ++moved_elsewhere;
    }
    BOOST_TEST_CONTEXT(n << " -> " << n + 1 << " nodes") {
      BOOST_CHECK_EQUAL(moved_elsewhere, 0u);
    }
    double expected =
        static_cast<double>(cart_count) / static_cast<double>(n + 1);
    BOOST_TEST_CONTEXT(n << " -> " << n + 1 << " nodes moved " << moved) {
      BOOST_CHECK_GE(static_cast<double>(moved), expected * 0.9);
      BOOST_CHECK_LE(static_cast<double>(moved), expected * 1.1);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_leave_moves_only_the_leavers_carts) {
  for (size_t n = 3; n <= 10; ++n) {
    auto all = members(n);
    auto before = owners_of_all(all);
    // The member in the middle leaves (the order of owners does not matter).
    auto leaver = all[n / 2];
    auto rest = all;
    rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(n / 2));
    auto after = owners_of_all(rest);
    size_t others_moved = 0;
    for (size_t i = 0; i < cart_count; ++i)
      if (before[i] != leaver && after[i] != before[i])
        ++others_moved;
    BOOST_TEST_CONTEXT(n << " nodes, " << leaver << " leaves") {
      BOOST_CHECK_EQUAL(others_moved, 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_owner_does_not_depend_on_the_order_of_members) {
  std::vector<std::string> sorted{"a", "b", "c", "d"};
  std::vector<std::string> shuffled{"c", "a", "d", "b"};
  size_t disagree = 0;
  for (size_t i = 0; i < 1000; ++i) {
    auto id = cart_id(i);
    if (sorted[owner_index(sorted, id)] != shuffled[owner_index(shuffled, id)])
      ++disagree;
  }
  BOOST_CHECK_EQUAL(disagree, 0u);
}

BOOST_AUTO_TEST_CASE(no_members_no_owner) {
  BOOST_CHECK_EQUAL(owner_index({}, "cart-1"), 0u);
}

// Nodes of different builds (and any other implementation following
// docs/cluster.md) must agree: a change of the hash fails here.
BOOST_AUTO_TEST_CASE(scores_are_stable_known_values) {
  // Computed independently (a few lines of Python following the document).
  BOOST_CHECK_EQUAL(placement_score("", ""), UINT64_C(0x0c674da690f5fbb8));
  BOOST_CHECK_EQUAL(placement_score("node-1", "cart-1"),
                    UINT64_C(0x8230f12adf5053c9));
  BOOST_CHECK_EQUAL(placement_score("node-2", "cart-1"),
                    UINT64_C(0x2818657014edbdee));
  BOOST_CHECK_EQUAL(placement_score("a", "42"), UINT64_C(0x4e565f6b0496b436));
  auto three = members(3);
  BOOST_CHECK_EQUAL(owner_index(three, "cart-1"), 2u);
  BOOST_CHECK_EQUAL(owner_index(three, "cart-2"), 0u);
  BOOST_CHECK_EQUAL(owner_index(three, "cart-3"), 1u);
}
