#include "bindings/cart_http/read_cache.hpp"

#include <string>

#include <boost/test/unit_test.hpp>

using namespace cartd;

namespace {

// Handles are plain numbers here: the cache only stores and compares them.
using cache = read_cache<int>;

constexpr int h1 = 1;
constexpr int h2 = 2;
constexpr uint64_t inc_a = 0xa11ce;
constexpr uint64_t inc_b = 0xb0b;

cart_view view(const std::string& id, uint64_t incarnation, uint64_t version,
               int64_t apples = 1) {
  cart_view result;
  result.id = id;
  result.lines = {{"apple", apples}};
  result.total_quantity = apples;
  result.version = version;
  result.incarnation = incarnation;
  return result;
}

/// The version of the copy GET would serve for `id`, or -1 for none.
int64_t served(const cache& c, const std::string& id) {
  auto copy = c.find(id);
  if (copy == nullptr)
    return -1;
  BOOST_REQUIRE_EQUAL(copy->etag, "\"" + std::to_string(copy->version) + "\"");
  BOOST_REQUIRE_EQUAL(copy->body,
                      cart_reply(view(id, 0, copy->version,
                                      static_cast<int64_t>(copy->version)))
                          .body);
  return static_cast<int64_t>(copy->version);
}

/// A cache holding a watched copy of c1 at version 3 of incarnation A
/// behind handle h1 (each copy of version v holds v apples).
struct watched_fixture {
  cache c{16};

  watched_fixture() {
    c.remember("c1", h1);
    c.on_watched(h1, view("c1", inc_a, 3, 3));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(read_cache_tests, watched_fixture)

BOOST_AUTO_TEST_CASE(a_watched_copy_is_served) {
  BOOST_TEST(served(c, "c1") == 3);
  BOOST_REQUIRE(c.handle("c1") != nullptr);
  BOOST_TEST(*c.handle("c1") == h1);
  BOOST_TEST(c.find("c2") == nullptr);
}

BOOST_AUTO_TEST_CASE(pushed_changes_keep_the_copy_current) {
  c.on_changed(view("c1", inc_a, 4, 4));
  BOOST_TEST(served(c, "c1") == 4);
  c.on_changed(view("c1", inc_a, 5, 5));
  BOOST_TEST(served(c, "c1") == 5);
}

BOOST_AUTO_TEST_CASE(a_copy_of_another_incarnation_is_never_served) {
  // A push or a reply of incarnation B, whichever handle it came through.
  c.on_changed(view("c1", inc_b, 9, 9));
  c.on_view(h1, view("c1", inc_b, 9, 9));
  c.on_watched(h1, view("c1", inc_b, 9, 9));
  c.on_watched(h2, view("c1", inc_b, 9, 9));
  BOOST_TEST(served(c, "c1") == 3);
}

BOOST_AUTO_TEST_CASE(a_newer_version_replaces_an_older_one_never_the_reverse) {
  c.on_view(h1, view("c1", inc_a, 5, 5));
  BOOST_TEST(served(c, "c1") == 5);
  // An Idempotency-Key replay answers with the view of its time.
  c.on_view(h1, view("c1", inc_a, 4, 4));
  c.on_changed(view("c1", inc_a, 4, 4));
  c.on_watched(h1, view("c1", inc_a, 2, 2));
  BOOST_TEST(served(c, "c1") == 5);
}

BOOST_AUTO_TEST_CASE(gone_drops_only_that_incarnation) {
  c.remember("c2", h2);
  c.on_watched(h2, view("c2", inc_b, 7, 7));
  c.on_gone("c1", inc_b); // c2's incarnation, not c1's
  c.on_gone("c3", inc_a);
  c.on_gone("c1", 0);
  BOOST_TEST(served(c, "c1") == 3);
  c.on_gone("c1", inc_a);
  BOOST_TEST(served(c, "c1") == -1);
  BOOST_TEST(c.handle("c1") == nullptr); // the handle is dead too
  BOOST_TEST(served(c, "c2") == 7);
}

BOOST_AUTO_TEST_CASE(a_copy_that_is_not_watched_is_not_served_as_current) {
  c.remember("c2", h2);
  c.on_view(h2, view("c2", inc_b, 7, 7)); // a reply to a change or a get
  BOOST_TEST(served(c, "c2") == -1);
  // Its body is reused to render that version's replies, though.
  auto res = c.render(view("c2", inc_b, 7, 7));
  BOOST_TEST(res.body == cart_reply(view("c2", inc_b, 7, 7)).body);
  // A push of its (now known) incarnation makes it current: the cart
  // pushes only to watchers.
  c.on_changed(view("c2", inc_b, 8, 8));
  BOOST_TEST(served(c, "c2") == 8);
}

BOOST_AUTO_TEST_CASE(
    the_incarnation_is_learned_only_through_the_cached_handle) {
  // c1 was dropped (a 5xx) and resolved anew to h2 ...
  c.forget("c1");
  BOOST_TEST(c.handle("c1") == nullptr);
  c.remember("c1", h2);
  // ... when a late reply of the old handle h1 (incarnation A) arrives, and
  // A's pushes, which still come here: none of it is taken.
  c.on_watched(h1, view("c1", inc_a, 4, 4));
  c.on_changed(view("c1", inc_a, 5, 5));
  BOOST_TEST(served(c, "c1") == -1);
  // Pushes before any reply through h2 cannot be placed either.
  c.on_changed(view("c1", inc_b, 6, 6));
  BOOST_TEST(served(c, "c1") == -1);
  c.on_watched(h2, view("c1", inc_b, 6, 6));
  BOOST_TEST(served(c, "c1") == 6);
  c.on_changed(view("c1", inc_a, 7, 7));
  BOOST_TEST(served(c, "c1") == 6);
}

BOOST_AUTO_TEST_CASE(views_of_carts_not_cached_are_ignored) {
  c.on_watched(h2, view("c9", inc_b, 1, 1));
  c.on_changed(view("c9", inc_b, 2, 2));
  BOOST_TEST(c.handle("c9") == nullptr);
  BOOST_TEST(c.size() == 1u);
}

BOOST_AUTO_TEST_CASE(remembering_a_cart_anew_starts_without_a_copy) {
  c.remember("c1", h2);
  BOOST_TEST(served(c, "c1") == -1);
  BOOST_TEST(*c.handle("c1") == h2);
}

BOOST_AUTO_TEST_CASE(
    render_reuses_the_body_of_the_same_incarnation_and_version) {
  auto same = c.render(view("c1", inc_a, 3, 3));
  BOOST_TEST(same.body == cart_reply(view("c1", inc_a, 3, 3)).body);
  BOOST_REQUIRE_EQUAL(same.headers.size(), 1u);
  BOOST_TEST(same.headers[0].second == "\"3\"");
  // Another incarnation's or version's view is rendered from itself (here
  // with a different number of apples than the cached copy).
  auto other = c.render(view("c1", inc_b, 3, 42));
  BOOST_TEST(other.body == cart_reply(view("c1", inc_b, 3, 42)).body);
  auto older = c.render(view("c1", inc_a, 2, 42));
  BOOST_TEST(older.body == cart_reply(view("c1", inc_a, 2, 42)).body);
}

BOOST_AUTO_TEST_CASE(eviction_keeps_the_size_bound) {
  cache small{8};
  for (int i = 0; i < 100; ++i) {
    auto id = "c" + std::to_string(i);
    small.remember(id, i);
    BOOST_REQUIRE(small.size() <= 8u);
    // The cart just taken in is never the one dropped for it.
    BOOST_REQUIRE(small.handle(id) != nullptr);
  }
  BOOST_TEST(small.size() == 8u);
  // Taking in a cart it already holds drops nothing.
  size_t held = 0;
  std::string some;
  for (int i = 0; i < 100; ++i)
    if (small.handle("c" + std::to_string(i)) != nullptr) {
      ++held;
      some = "c" + std::to_string(i);
    }
  BOOST_TEST(held == 8u);
  small.remember(some, 1000);
  held = 0;
  for (int i = 0; i < 100; ++i)
    held += small.handle("c" + std::to_string(i)) != nullptr ? 1 : 0;
  BOOST_TEST(held == 8u);
}

BOOST_AUTO_TEST_CASE(a_cache_of_capacity_zero_holds_nothing) {
  cache none{0};
  none.remember("c1", h1);
  none.on_watched(h1, view("c1", inc_a, 1, 1));
  BOOST_TEST(none.size() == 0u);
  BOOST_TEST(none.find("c1") == nullptr);
  BOOST_TEST(none.handle("c1") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(forget_if_drops_exactly_the_handles_it_names) {
  // Cluster mode: a node went down; its carts' handles (here: h2) go.
  cache c{8};
  c.remember("a", h1);
  c.remember("b", h2);
  c.remember("c", h2);
  c.on_watched(h1, view("a", inc_a, 1, 1));
  BOOST_TEST(c.forget_if([](int h) { return h == h2; }) == 2u);
  BOOST_TEST(c.size() == 1u);
  BOOST_TEST(c.handle("b") == nullptr);
  BOOST_TEST(c.handle("c") == nullptr);
  BOOST_TEST(served(c, "a") == 1);
}

BOOST_AUTO_TEST_CASE(clear_drops_every_copy) {
  // Cluster mode: this node lost its lease; no copy may be served.
  cache c{8};
  c.remember("a", h1);
  c.on_watched(h1, view("a", inc_a, 1, 1));
  c.clear();
  BOOST_TEST(served(c, "a") == -1);
  BOOST_TEST(c.size() == 0u);
}
