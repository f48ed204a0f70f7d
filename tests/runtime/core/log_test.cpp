// The node's log lines: JSON strings that stay valid whatever they carry,
// RFC 3339 UTC timestamps, and fields from the node, scopes and the call in
// both formats.

#include "runtime/core/log.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "runtime/core/log_encoding.hpp"

using namespace cartd;
using json = nlohmann::json;

namespace {

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

/// A logger of its own that writes into `out` in `format`.
std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out,
                                            log_format format) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto result = std::make_shared<spdlog::logger>("test", sink);
  result->set_formatter(make_log_formatter(format));
  result->set_level(spdlog::level::trace);
  return result;
}

const auto at_123 = std::chrono::system_clock::time_point{
    std::chrono::milliseconds{1795830009123}};

} // namespace

BOOST_AUTO_TEST_SUITE(log_encoding)

BOOST_AUTO_TEST_CASE(json_strings_escape_quotes_backslashes_and_controls) {
  std::string text = "a \"quoted\" \\ back\nnew\r\t\b\f";
  text += '\x01';
  text += '\x1f';
  text += '\x7f';
  auto out = json_string(text);
  BOOST_TEST(out == R"("a \"quoted\" \\ back\nnew\r\t\b\f\u0001\u001f)"
                    "\x7f\"");
  BOOST_TEST(json::parse(out).get<std::string>() == text);
}

BOOST_AUTO_TEST_CASE(well_formed_utf8_passes_unchanged) {
  // 2, 3 and 4-byte sequences at the edges of their ranges.
  std::string text = "caf\xc3\xa9 \xe2\x82\xac \xef\xbf\xbf \xf0\x9f\x9b\x92 "
                     "\xf4\x8f\xbf\xbf \xed\x9f\xbf";
  auto out = json_string(text);
  BOOST_TEST(out == "\"" + text + "\"");
  BOOST_TEST(json::parse(out).get<std::string>() == text);
}

BOOST_AUTO_TEST_CASE(every_byte_of_bad_utf8_becomes_a_replacement_character) {
  const std::string fffd = "\xef\xbf\xbd";
  struct sample {
    std::string in;
    std::string decoded;
  };
  std::vector<sample> samples = {
      {"\xff", fffd},                                  // never in UTF-8
      {"a\x80z", "a" + fffd + "z"},                    // lone continuation
      {"\xc0\xaf", fffd + fffd},                       // overlong '/'
      {"\xe0\x80\xaf", fffd + fffd + fffd},            // overlong, 3 bytes
      {"\xed\xa0\x80", fffd + fffd + fffd},            // a surrogate (U+D800)
      {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd}, // above U+10FFFF
      {"\xe2\x82", fffd + fffd},                       // cut short
      {"\xc3", fffd},                                  // cut at the end
  };
  for (auto& x : samples) {
    auto out = json_string(x.in);
    BOOST_TEST_INFO("input " << json(x.in.size()).dump() << " bytes");
    json parsed;
    BOOST_REQUIRE_NO_THROW(parsed = json::parse(out));
    BOOST_TEST(parsed.get<std::string>() == x.decoded);
  }
}

BOOST_AUTO_TEST_CASE(logfmt_values_are_quoted_only_when_needed) {
  auto value = [](std::string_view x) {
    std::string out;
    append_logfmt_value(out, x);
    return out;
  };
  BOOST_TEST(value("c1") == "c1");
  BOOST_TEST(value("/carts/{cart}") == "/carts/{cart}");
  BOOST_TEST(value("") == "\"\"");
  BOOST_TEST(value("a b") == "\"a b\"");
  BOOST_TEST(value("a=b") == "\"a=b\"");
  BOOST_TEST(value("x\ny") == "\"x\\ny\"");
  BOOST_TEST(value("say \"hi\"") == R"("say \"hi\"")");
}

BOOST_AUTO_TEST_CASE(timestamps_are_rfc3339_in_utc_with_milliseconds) {
  std::string out;
  append_rfc3339_utc(out, at_123);
  BOOST_TEST(out == "2026-11-28T01:40:09.123Z");
  // Another second (the cache of the last one must not stick), and
  // zero-padded fields.
  out.clear();
  append_rfc3339_utc(out, std::chrono::system_clock::time_point{
                              std::chrono::milliseconds{946684799009}});
  BOOST_TEST(out == "1999-12-31T23:59:59.009Z");
  out.clear();
  append_rfc3339_utc(out, at_123 + std::chrono::milliseconds{877});
  BOOST_TEST(out == "2026-11-28T01:40:10.000Z");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(log_lines)

BOOST_AUTO_TEST_CASE(json_lines_carry_the_fixed_members_and_fields) {
  std::ostringstream out;
  auto logger = logger_into(out, log_format::json);
  {
    log_scope request{{"request_id", "req-1"}};
    log_scope cart{{"cart", "c1"}, {"empty", ""}};
    logger->warn("write failed: {}", 42);
  }
  logger->info("no fields");
  auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  auto first = json::parse(lines[0]);
  BOOST_TEST(first["level"] == "warning");
  BOOST_TEST(first["logger"] == "test");
  BOOST_TEST(first["msg"] == "write failed: 42");
  BOOST_TEST(first["cart"] == "c1");
  BOOST_TEST(first["request_id"] == "req-1");
  BOOST_TEST(!first.contains("empty"));
  auto ts = first["ts"].get<std::string>();
  BOOST_TEST_INFO("ts " << ts);
  BOOST_TEST(ts.size() == 24u);
  BOOST_TEST(ts[10] == 'T');
  BOOST_TEST(ts.back() == 'Z');
  auto second = json::parse(lines[1]);
  BOOST_TEST(!second.contains("cart"));
  BOOST_TEST(!second.contains("request_id"));
}

BOOST_AUTO_TEST_CASE(a_message_with_quotes_newlines_and_bad_utf8_is_one_line) {
  std::ostringstream out;
  auto logger = logger_into(out, log_format::json);
  std::string nasty = "say \"hi\"\nsecond line\r\n\xff\xfe end\\";
  log_scope scope{{"cart", nasty}};
  logger->error("{}", nasty);
  auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  auto parsed = json::parse(lines[0]);
  std::string expected = "say \"hi\"\nsecond line\r\n\xef\xbf\xbd\xef\xbf\xbd"
                         " end\\";
  BOOST_TEST(parsed["msg"] == expected);
  BOOST_TEST(parsed["cart"] == expected);
}

BOOST_AUTO_TEST_CASE(the_innermost_field_of_a_key_wins_and_fixed_members_stay) {
  std::ostringstream out;
  auto logger = logger_into(out, log_format::json);
  log_scope outer{{"request_id", "outer"}, {"msg", "not the message"}};
  log_scope inner{{"request_id", "inner"}};
  logger->info("hello");
  auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find("outer") == std::string::npos);
  auto parsed = json::parse(lines[0]);
  BOOST_TEST(parsed["request_id"] == "inner");
  BOOST_TEST(parsed["msg"] == "hello");
}

BOOST_AUTO_TEST_CASE(text_lines_keep_their_look_and_append_fields) {
  std::ostringstream out;
  auto logger = logger_into(out, log_format::text);
  {
    log_scope scope{{"cart", "c1"}, {"request_id", "a b"}};
    logger->info("cart c1: stored");
  }
  logger->info("plain");
  auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  // "2026-11-28T01:40:09.123 info cart c1: stored cart=c1 ..."
  auto& line = lines[0];
  BOOST_TEST_INFO("line " << line);
  BOOST_TEST(line.size() > 24u);
  BOOST_TEST(line[10] == 'T');
  auto rest = line.substr(24);
  BOOST_TEST(rest == "info cart c1: stored cart=c1 request_id=\"a b\"");
  BOOST_TEST(lines[1].substr(24) == "info plain");
}

BOOST_AUTO_TEST_CASE(a_call_with_fields_adds_them_to_that_line_only) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_formatter(make_log_formatter(log_format::json));
  auto& sinks = log().sinks();
  sinks.push_back(sink);
  auto level = log().level();
  log().set_level(spdlog::level::info);
  set_log_node("node-a");
  std::string id = "c7";
  log({{"cart", id}, {"request_id", "r-9"}}).warn("cart {}: failed", id);
  log().info("after");
  log({{"cart", id}}).debug("below the level");
  set_log_node("");
  sinks.pop_back();
  log().set_level(level);
  auto lines = lines_of(out.str());
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  auto first = json::parse(lines[0]);
  BOOST_TEST(first["logger"] == "cartd");
  BOOST_TEST(first["msg"] == "cart c7: failed");
  BOOST_TEST(first["cart"] == "c7");
  BOOST_TEST(first["request_id"] == "r-9");
  BOOST_TEST(first["node"] == "node-a");
  auto second = json::parse(lines[1]);
  BOOST_TEST(!second.contains("cart"));
  BOOST_TEST(second["node"] == "node-a");
}

BOOST_AUTO_TEST_CASE(formats_parse_by_name) {
  log_format x = log_format::text;
  BOOST_TEST(parse_log_format("json", x));
  BOOST_TEST((x == log_format::json));
  BOOST_TEST(parse_log_format("text", x));
  BOOST_TEST((x == log_format::text));
  BOOST_TEST(!parse_log_format("JSON", x));
  BOOST_TEST(!parse_log_format("", x));
}

BOOST_AUTO_TEST_SUITE_END()
