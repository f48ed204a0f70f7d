// The access log observer: a line per exchange with the request's method,
// route template, path, status, bytes, duration, node and id, in JSON and in
// text; and when its writer is stuck it drops lines instead of blocking the
// server.

#include "bindings/http/access_log.hpp"

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

std::shared_ptr<line_writer> writer_into(std::string& out) {
  return std::make_shared<line_writer>(
      [&out](std::string_view run) { out.append(run); },
      line_writer::settings{});
}

} // namespace

BOOST_AUTO_TEST_SUITE(access_log_tests)

BOOST_AUTO_TEST_CASE(a_json_line_names_route_path_status_bytes_and_id) {
  std::string sink;
  access_log log{log_format::json, "node-a", writer_into(sink)};
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
  std::string sink;
  access_log log{log_format::json, "node-a", writer_into(sink)};
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
  std::string sink;
  access_log log{log_format::text, "node-a", writer_into(sink)};
  std::string line;
  log.render(sample_exchange(), at_123, line);
  BOOST_TEST(line == "2026-11-28T01:40:09.123Z info access POST "
                     "/carts/c1/items 201 route=/carts/{cart}/items bytes=85 "
                     "duration_ms=1250.412 node=node-a "
                     "request_id=\"req-\\\"7\\\"\"\n");
}

BOOST_AUTO_TEST_CASE(every_exchange_gives_one_line_through_the_writer) {
  std::string sink;
  {
    auto writer = writer_into(sink);
    access_log log{log_format::json, "n", writer};
    auto ex = sample_exchange();
    for (unsigned status : {200u, 404u, 503u}) {
      ex.status = status;
      log.on_exchange(ex);
    }
    BOOST_TEST(log.dropped() == 0u);
  } // the writer writes out and stops
  auto lines = lines_of(sink);
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  BOOST_TEST(json::parse(lines[0])["status"] == 200);
  BOOST_TEST(json::parse(lines[1])["status"] == 404);
  BOOST_TEST(json::parse(lines[2])["status"] == 503);
}

BOOST_AUTO_TEST_CASE(a_stuck_output_drops_lines_instead_of_blocking) {
  std::promise<void> release;
  auto released = release.get_future().share();
  line_writer::settings cfg;
  cfg.capacity = 4096;
  auto writer = std::make_shared<line_writer>(
      [released](std::string_view) { released.wait(); }, cfg);
  access_log log{log_format::json, "n", writer};
  auto ex = sample_exchange();
  // Each line is ~250 bytes: 2 buffers hold ~32; the rest must be dropped,
  // every call returning at once.
  for (int i = 0; i < 1000; ++i)
    log.on_exchange(ex);
  BOOST_TEST(log.dropped() > 900u);
  release.set_value();
}

BOOST_AUTO_TEST_SUITE_END()
