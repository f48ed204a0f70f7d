#include "bindings/http/conditional.hpp"

#include <boost/test/unit_test.hpp>

using cartd::http::if_none_match_matches;

BOOST_AUTO_TEST_SUITE(conditional)

BOOST_AUTO_TEST_CASE(the_current_tag_matches_strong_or_weak) {
  BOOST_TEST(if_none_match_matches(R"("7")", R"("7")"));
  BOOST_TEST(if_none_match_matches(R"(W/"7")", R"("7")"));
  BOOST_TEST(if_none_match_matches(R"("7")", R"(W/"7")"));
  BOOST_TEST(if_none_match_matches(R"( "7" )", R"("7")"));
  BOOST_TEST(!if_none_match_matches(R"("8")", R"("7")"));
  BOOST_TEST(!if_none_match_matches(R"("77")", R"("7")"));
  BOOST_TEST(!if_none_match_matches(R"("")", R"("7")"));
}

BOOST_AUTO_TEST_CASE(a_list_matches_when_one_of_its_tags_does) {
  BOOST_TEST(if_none_match_matches(R"("1", "7")", R"("7")"));
  BOOST_TEST(if_none_match_matches(R"("7","1")", R"("7")"));
  BOOST_TEST(if_none_match_matches(R"(W/"1" ,W/"7")", R"("7")"));
  // Empty list elements are allowed (RFC 9110 §5.6.1).
  BOOST_TEST(if_none_match_matches(R"(, "1",, "7",)", R"("7")"));
  BOOST_TEST(!if_none_match_matches(R"("1", "2")", R"("7")"));
  // A comma inside a tag is part of it.
  BOOST_TEST(if_none_match_matches(R"("a,b")", R"("a,b")"));
  BOOST_TEST(!if_none_match_matches(R"("a,b")", R"("a")"));
}

BOOST_AUTO_TEST_CASE(star_matches_any_tag) {
  BOOST_TEST(if_none_match_matches("*", R"("7")"));
  BOOST_TEST(if_none_match_matches(" * ", R"(W/"x")"));
  // `*` is the whole field or nothing.
  BOOST_TEST(!if_none_match_matches(R"(*, "1")", R"("7")"));
}

BOOST_AUTO_TEST_CASE(a_malformed_field_or_tag_matches_nothing) {
  for (auto field : {"", " ", "7", R"("7)", R"(w/"7")", R"("7" "7")",
                     R"("7";x)", R"(W/7)", R"("1", 7)"})
    BOOST_TEST(!if_none_match_matches(field, R"("7")"), field);
  for (auto etag : {"", "7", R"("7)", R"("7"x)"})
    BOOST_TEST(!if_none_match_matches(R"("7")", etag), etag);
  BOOST_TEST(!if_none_match_matches("*", ""));
}

BOOST_AUTO_TEST_SUITE_END()
