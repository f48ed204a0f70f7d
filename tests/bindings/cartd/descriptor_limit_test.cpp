#include "bindings/cartd/descriptor_limit.hpp"

#include <sys/resource.h>

#include <cstdint>
#include <limits>

#include <boost/test/unit_test.hpp>

using namespace cartd;

namespace {

constexpr auto unlimited = std::numeric_limits<uint64_t>::max();

} // namespace

BOOST_AUTO_TEST_SUITE(descriptor_limit)

BOOST_AUTO_TEST_CASE(a_soft_limit_that_suffices_stays) {
  auto plan = plan_descriptors(100, 1024, 4096);
  BOOST_TEST(plan.soft_limit == 1024u);
  BOOST_TEST(plan.max_connections == 100u);
}

BOOST_AUTO_TEST_CASE(a_short_soft_limit_is_raised_as_far_as_needed) {
  auto plan = plan_descriptors(10'000, 1024, 1'048'576);
  BOOST_TEST(plan.soft_limit == 10'000u + reserved_descriptors);
  BOOST_TEST(plan.max_connections == 10'000u);
  plan = plan_descriptors(10'000, 1024, unlimited);
  BOOST_TEST(plan.soft_limit == 10'000u + reserved_descriptors);
}

BOOST_AUTO_TEST_CASE(a_short_hard_limit_serves_fewer_connections) {
  // prlimit --nofile=300: the reserve stays free.
  auto plan = plan_descriptors(10'000, 300, 300);
  BOOST_TEST(plan.soft_limit == 300u);
  BOOST_TEST(plan.max_connections == 300u - reserved_descriptors);
  plan = plan_descriptors(10'000, 256, 1024);
  BOOST_TEST(plan.soft_limit == 1024u);
  BOOST_TEST(plan.max_connections == 1024u - reserved_descriptors);
  // A tiny limit: half of it, at least one.
  plan = plan_descriptors(10'000, 20, 20);
  BOOST_TEST(plan.max_connections == 10u);
  plan = plan_descriptors(10'000, 1, 1);
  BOOST_TEST(plan.max_connections == 1u);
}

BOOST_AUTO_TEST_CASE(sizing_raises_this_process_soft_limit) {
  rlimit saved{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  BOOST_REQUIRE(saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 1024);
  rlimit low = saved;
  low.rlim_cur = 256;
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto sizing = size_descriptors(500);
  rlimit now{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &now) == 0);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  BOOST_TEST(sizing.warning == "");
  BOOST_TEST(sizing.soft_before == 256u);
  BOOST_TEST(sizing.soft_after == 500u + reserved_descriptors);
  BOOST_TEST(now.rlim_cur == 500u + reserved_descriptors);
  BOOST_TEST(sizing.max_connections == 500u);
}

BOOST_AUTO_TEST_CASE(sizing_beyond_the_hard_limit_warns_and_serves_fewer) {
  rlimit saved{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max > 100'000) {
    auto sizing = size_descriptors(100'000'000);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    BOOST_TEST(sizing.max_connections < 100'000'000u);
    BOOST_TEST(sizing.warning.find("http.max-connections=100000000") !=
                   std::string::npos,
               sizing.warning);
  } else {
    auto sizing = size_descriptors(saved.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    BOOST_TEST(sizing.max_connections == saved.rlim_max - reserved_descriptors);
    BOOST_TEST(sizing.warning.find("serving at most") != std::string::npos,
               sizing.warning);
  }
}

BOOST_AUTO_TEST_SUITE_END()
