// The access log observer: a line per exchange with the request's method,
// route template, path, status, bytes, duration, node and id, in JSON and in
// text; and when its writer is stuck it drops lines instead of blocking the
// server.

#include "bindings/http/access_log.hpp"

#include "runtime/core/log_encoding.hpp"

#include <cstring>
#include <future>
#include <sstream>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using namespace cartd;
using namespace cartd::http;
using json = nlohmann::json;
namespace beast_http = boost::beast::http;

namespace {

exchange sample_exchange() {
  exchange ex;
  ex.method = beast_http::verb::post;
  ex.route = "/carts/{cart}/items";
  ex.path = "/carts/c1/items";
  ex.request_id = "req-\"7\"";
  ex.status = 201;
  ex.body_bytes = 85;
  ex.started = std::chrono::steady_clock::time_point{};
  ex.finished = ex.started + std::chrono::microseconds{1250412};
  return ex;
}

const auto at_123 = std::chrono::system_clock::time_point{
    std::chrono::milliseconds{1795830009123}};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

line_writer::output into(std::string& out) {
  return [&out](std::string_view run) { out.append(run); };
}

} // namespace

BOOST_AUTO_TEST_SUITE(access_log_tests)

BOOST_AUTO_TEST_CASE(a_json_line_names_route_path_status_bytes_and_id) {
  access_line_format log{log_format::json, "node-a"};
  std::string line;
  log.render(sample_exchange(), at_123, line);
  BOOST_TEST(line.back() == '\n');
  BOOST_TEST(line.find('\n') == line.size() - 1);
  auto x = json::parse(line);
  BOOST_TEST(x["ts"] == "2026-11-28T01:40:09.123Z");
  BOOST_TEST(x["level"] == "info");
  BOOST_TEST(x["logger"] == "access");
  BOOST_TEST(x["msg"] == "POST /carts/c1/items 201");
  BOOST_TEST(x["method"] == "POST");
  BOOST_TEST(x["route"] == "/carts/{cart}/items");
  BOOST_TEST(x["path"] == "/carts/c1/items");
  BOOST_TEST(x["status"] == 201);
  BOOST_TEST(x["bytes"] == 85);
  BOOST_TEST(x["duration_ms"].get<double>() == 1250.412);
  BOOST_TEST(x["node"] == "node-a");
  BOOST_TEST(x["request_id"] == "req-\"7\"");
}

BOOST_AUTO_TEST_CASE(an_answer_before_routing_has_no_method_and_no_route) {
  access_line_format log{log_format::json, "node-a"};
  exchange ex;
  ex.status = 400;
  ex.body_bytes = 12;
  std::string line;
  log.render(ex, at_123, line);
  auto x = json::parse(line);
  BOOST_TEST(x["method"] == "-");
  BOOST_TEST(x["route"] == "");
  BOOST_TEST(x["status"] == 400);
  BOOST_TEST(x["duration_ms"].get<double>() == 0.0);
}

BOOST_AUTO_TEST_CASE(a_text_line_looks_like_the_node_log) {
  access_line_format log{log_format::text, "node-a"};
  std::string line;
  log.render(sample_exchange(), at_123, line);
  BOOST_TEST(line == "2026-11-28T01:40:09.123Z info access POST "
                     "/carts/c1/items 201 route=/carts/{cart}/items bytes=85 "
                     "duration_ms=1250.412 node=node-a "
                     "request_id=\"req-\\\"7\\\"\"\n");
}

BOOST_AUTO_TEST_CASE(the_fast_path_writes_exactly_what_render_writes) {
  struct variant {
    const char* what;
    exchange ex;
    // Whether render_plain takes it (text, JSON).
    bool plain_text;
    bool plain_json;
  };
  auto plain = sample_exchange();
  plain.request_id = "5f0c9a1e0d3b7a22-1";
  auto with_equals = plain;
  with_equals.path = "/carts/a=b";
  auto with_quote = plain;
  with_quote.path = "/carts/a\"b";
  auto non_ascii = plain;
  non_ascii.path = "/carts/caf\xc3\xa9";
  std::string long_path(2000, 'x');
  auto too_long = plain;
  too_long.path = long_path;
  auto unrouted = plain;
  unrouted.route = "";
  unrouted.method = beast_http::verb::unknown;
  exchange before_routing; // no method, path, route or id
  before_routing.status = 400;
  std::vector<variant> variants{
      {"plain", plain, true, true},
      {"an id with quotes", sample_exchange(), false, false},
      {"a path with =", with_equals, false, true},
      {"a path with a quote", with_quote, false, false},
      {"a non-ASCII path", non_ascii, false, false},
      {"a path too long for the buffer", too_long, false, false},
      {"no route, no method", unrouted, false, true},
      {"answered before routing", before_routing, false, true},
  };
  for (auto format : {log_format::text, log_format::json}) {
    for (auto node : {"node-a", ""}) {
      access_line_format log{format, node};
      for (auto& v : variants) {
        BOOST_TEST_CONTEXT(v.what
                           << (format == log_format::json ? ", JSON" : ", text")
                           << ", node '" << node << "'") {
          std::string expected;
          log.render(v.ex, at_123, expected);
          char buf[1024 + 8];
          std::memset(buf, '#', sizeof(buf));
          auto n = log.render_plain(v.ex, at_123, buf, 1024);
          BOOST_TEST((n > 0) == (format == log_format::json ? v.plain_json
                                                            : v.plain_text));
          if (n > 0)
            BOOST_TEST(std::string(buf, n) == expected);
          // Nothing written past the size it was given.
          BOOST_TEST(std::string(buf + 1024, 8) == std::string(8, '#'));
          // A buffer too small for the line: 0, never a cut line.
          BOOST_TEST(log.render_plain(v.ex, at_123, buf, 40) == 0u);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(every_exchange_gives_one_line_through_the_writer) {
  // Rendered on the writer's thread from the records on_exchange copied:
  // each line says what render() says of its exchange, the plain ones and
  // the ones that need escaping, short and long (beyond on_exchange's
  // stack buffer) alike.
  std::vector<exchange> exchanges;
  auto ex = sample_exchange(); // an id with quotes: escaped
  for (unsigned status : {200u, 404u, 503u}) {
    ex.status = status;
    exchanges.push_back(ex);
  }
  auto plain = sample_exchange();
  plain.request_id = "5f0c9a1e0d3b7a22-1";
  exchanges.push_back(plain);
  std::string long_path = "/carts/" + std::string(3000, 'y');
  auto long_one = plain;
  long_one.path = long_path;
  exchanges.push_back(long_one);
  exchange before_routing;
  before_routing.status = 400;
  exchanges.push_back(before_routing);
  for (auto format : {log_format::json, log_format::text}) {
    BOOST_TEST_CONTEXT((format == log_format::json ? "JSON" : "text")) {
      std::string sink;
      {
        access_log log{format, "n", into(sink)};
        for (auto& x : exchanges)
          log.on_exchange(x);
        BOOST_TEST(log.dropped() == 0u);
      } // the writer writes out and stops
      auto lines = lines_of(sink);
      BOOST_REQUIRE_EQUAL(lines.size(), exchanges.size());
      access_line_format expected_format{format, "n"};
      for (size_t i = 0; i < exchanges.size(); ++i) {
        std::string expected;
        expected_format.render(exchanges[i], at_123, expected);
        // All but the time (the first 24 characters in text, after
        // {"ts":" in JSON) as render() has it.
        auto skip = format == log_format::json ? 7 + 24 : 24;
        BOOST_TEST(lines[i].substr(skip) ==
                   expected.substr(skip, expected.size() - skip - 1));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_line_has_the_time_its_response_was_written) {
  auto ms_of = [](const std::string& rfc3339) {
    // "2026-11-28T01:40:09.123Z": hours, minutes, seconds, milliseconds.
    return ((std::stoll(rfc3339.substr(11, 2)) * 60 +
             std::stoll(rfc3339.substr(14, 2))) *
                60 +
            std::stoll(rfc3339.substr(17, 2))) *
               1000 +
           std::stoll(rfc3339.substr(20, 3));
  };
  std::string sink;
  std::string before;
  std::string after;
  {
    access_log log{log_format::text, "n", into(sink)};
    auto ex = sample_exchange();
    append_rfc3339_utc(before, std::chrono::system_clock::now());
    ex.finished = std::chrono::steady_clock::now();
    ex.started = ex.finished - std::chrono::milliseconds{2};
    append_rfc3339_utc(after, std::chrono::system_clock::now());
    log.on_exchange(ex);
  }
  auto lines = lines_of(sink);
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  auto ts = lines[0].substr(0, 24);
  BOOST_TEST_INFO("before " << before << ", line " << ts << ", after "
                            << after);
  // Same day in the test's runs; a converted time off by hours or days, or
  // the time the writer rendered it, would fail. One millisecond of slack
  // for the two clocks read at slightly different instants.
  if (before.substr(0, 10) == after.substr(0, 10)) {
    BOOST_TEST(ms_of(ts) >= ms_of(before) - 1);
    BOOST_TEST(ms_of(ts) <= ms_of(after) + 1);
  }
  BOOST_TEST(lines[0].find(" duration_ms=2.000 ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_stuck_output_drops_lines_instead_of_blocking) {
  std::promise<void> release;
  auto released = release.get_future().share();
  line_writer::settings cfg;
  cfg.capacity = 4096;
  access_log log{log_format::json, "n",
                 [released](std::string_view) { released.wait(); }, cfg};
  auto ex = sample_exchange();
  // Each record is ~100 bytes: 2 buffers hold ~80; the rest must be
  // dropped, every call returning at once.
  for (int i = 0; i < 1000; ++i)
    log.on_exchange(ex);
  BOOST_TEST(log.dropped() > 900u);
  release.set_value();
}

BOOST_AUTO_TEST_SUITE_END()
