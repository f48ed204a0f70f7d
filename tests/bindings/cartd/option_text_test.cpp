#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "bindings/cartd/option_text.hpp"

using namespace cartd;

BOOST_AUTO_TEST_SUITE(option_text)

BOOST_AUTO_TEST_CASE(an_options_variable_is_its_name_upper_cased) {
  BOOST_TEST(env_name("http.port") == "CARTD_HTTP_PORT");
  BOOST_TEST(env_name("storage.postgres-schema") ==
             "CARTD_STORAGE_POSTGRES_SCHEMA");
  BOOST_TEST(env_name("cluster.tls.ca") == "CARTD_CLUSTER_TLS_CA");
  BOOST_TEST(env_name("config-file") == "CARTD_CONFIG_FILE");
}

BOOST_AUTO_TEST_CASE(forms_say_what_a_value_looks_like) {
  BOOST_TEST(expected_form("timespan") ==
             "a duration with a unit: ns, us, ms, s, min or h (such as 30s "
             "or 250ms)");
  BOOST_TEST(expected_form("uint16") == "a whole number from 0 to 65535");
  BOOST_TEST(expected_form("boolean") == "true or false");
  BOOST_TEST(expected_form("uint64") == "a whole number, 0 or more");
  BOOST_TEST(expected_form("list of string") ==
             "a list in brackets, such as [\"a\", \"b\"]");
}

BOOST_AUTO_TEST_CASE(the_closest_name_is_at_most_two_edits_away) {
  std::vector<std::string> names{"http.port", "http.host", "carts.shards"};
  BOOST_TEST(closest_name("htp.port", names) == "http.port");
  BOOST_TEST(closest_name("http.hots", names) == "http.host");
  BOOST_TEST(closest_name("storage.path", names) == "");
}

BOOST_AUTO_TEST_CASE(lines_know_their_section_key_and_value) {
  std::string text = "; comment\n[http]\nport = 8080\r\n\n[carts]\n"
                     "shards=4\nshards = 5\n";
  auto x = line_of(text, 3);
  BOOST_TEST(x.number == 3u);
  BOOST_TEST(x.section == "http");
  BOOST_TEST(x.key == "port");
  BOOST_TEST(x.value == "8080");
  BOOST_TEST(line_of(text, 2).key == "");
  BOOST_TEST(line_of(text, 99).number == 0u);
  // The last one wins, as in the parser.
  BOOST_TEST(find_entry(text, "carts", "shards").number == 7u);
  BOOST_TEST(find_entry(text, "http", "shards").number == 0u);
  BOOST_TEST(
      find_entry("[cluster.tls]\nca=\"x\"\n", "cluster.tls", "ca").number ==
      2u);
}

BOOST_AUTO_TEST_CASE(settings_become_a_config_file_section_by_section) {
  caf::settings xs;
  caf::put(xs, "http.port", 8080);
  caf::put(xs, "http.host", std::string{"a \"b\""});
  caf::put(xs, "carts.idle-timeout",
           caf::timespan{std::chrono::milliseconds{1500}});
  caf::put(xs, "carts.off", caf::timespan{0});
  caf::put(xs, "cluster.tls.ca", std::string{"/ca.pem"});
  caf::put(xs, "cluster.enabled", true);
  BOOST_TEST(to_config_file(xs) == "[carts]\nidle-timeout=1500ms\noff=0s\n\n"
                                   "[cluster]\nenabled=true\n\n"
                                   "[cluster.tls]\nca=\"/ca.pem\"\n\n"
                                   "[http]\nhost=\"a \\\"b\\\"\"\nport=8080\n");
  BOOST_TEST(to_plain_text(caf::config_value{std::string{"x y"}}) == "x y");
  BOOST_TEST(to_plain_text(caf::config_value{
                 caf::timespan{std::chrono::minutes{2}}}) == "2min");
}

BOOST_AUTO_TEST_SUITE_END()
