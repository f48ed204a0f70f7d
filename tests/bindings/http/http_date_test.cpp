#include "bindings/http/http_date.hpp"

#include <chrono>
#include <clocale>
#include <string>

#include <boost/test/unit_test.hpp>

namespace http = cartd::http;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(http_date)

BOOST_AUTO_TEST_CASE(dates_are_imf_fixdates_in_utc) {
  // RFC 9110 §5.6.7's example.
  BOOST_TEST(http::format_http_date(784111777) ==
             "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(http::format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  // A leap day, and a year with four digits after 2000.
  BOOST_TEST(http::format_http_date(1709210096) ==
             "Thu, 29 Feb 2024 12:34:56 GMT");
  BOOST_TEST(http::format_http_date(4102444799) ==
             "Thu, 31 Dec 2099 23:59:59 GMT");
}

BOOST_AUTO_TEST_CASE(names_are_english_whatever_the_locale) {
  // Whether or not the machine has another locale, the names do not come
  // from one.
  auto* before = std::setlocale(LC_TIME, nullptr);
  std::string saved = before != nullptr ? before : "C";
  std::setlocale(LC_TIME, "de_DE.UTF-8");
  BOOST_TEST(http::format_http_date(784111777) ==
             "Sun, 06 Nov 1994 08:49:37 GMT");
  std::setlocale(LC_TIME, saved.c_str());
}

BOOST_AUTO_TEST_CASE(the_clock_formats_once_per_second) {
  http::date_clock clock;
  auto t0 = std::chrono::system_clock::from_time_t(784111777);
  BOOST_TEST(clock.at(t0) == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(clock.at(t0 + 1ms) == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(clock.at(t0 + 999ms) == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(clock.formatted() == 1u);
  BOOST_TEST(clock.at(t0 + 1s) == "Sun, 06 Nov 1994 08:49:38 GMT");
  BOOST_TEST(clock.at(t0 + 1500ms) == "Sun, 06 Nov 1994 08:49:38 GMT");
  BOOST_TEST(clock.formatted() == 2u);
  // A clock set back is followed too.
  BOOST_TEST(clock.at(t0) == "Sun, 06 Nov 1994 08:49:37 GMT");
  BOOST_TEST(clock.formatted() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
