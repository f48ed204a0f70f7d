#pragma once

// What every end-to-end suite shares: the node under test, a one-shot HTTP
// call that checks the framing every response must have, and checks for
// carts and error bodies. Only included by the e2e suites (Boost.Test).

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/cartd_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"

#ifndef CARTD_BUILT_BINARY
#error "CARTD_BUILT_BINARY must name the cartd executable this tree built"
#endif

namespace cartd::test {

using json = nlohmann::json;

using namespace std::chrono_literals;

/// The cartd executable the suites start: $E2E_CARTD_BINARY when it is set,
/// else the one this tree built. The sanitizer tree sets it to run these
/// suites, built once in the Release tree, against its own instrumented
/// binary (CARTD_E2E_DRIVERS in tests/e2e/CMakeLists.txt). Not a CARTD_*
/// name: the nodes inherit the driver's environment, and cartd refuses a
/// CARTD_* variable that names none of its options.
inline const std::string& cartd_binary() {
  static const std::string path = [] {
    const char* env = std::getenv("E2E_CARTD_BINARY");
    return std::string{env != nullptr && *env != '\0' ? env
                                                      : CARTD_BUILT_BINARY};
  }();
  return path;
}

// -- requests and nodes
// --------------------------------------------------------

inline std::string cart_path(std::string_view cart) {
  return "/carts/" + std::string{cart};
}

inline std::string items_path(std::string_view cart) {
  return cart_path(cart) + "/items";
}

inline std::string item_path(std::string_view cart, std::string_view item) {
  return items_path(cart) + "/" + percent_encode(item);
}

/// Options of a node journaling to `data` with SQLite, with
/// `--storage.sync=<sync>` unless `extra` sets it, plus `extra`.
inline std::vector<std::string> sqlite_node_args(const temp_dir& data,
                                                 std::vector<std::string> extra,
                                                 const std::string& sync) {
  std::vector<std::string> result{"--storage.backend=sqlite",
                                  "--storage.path=" + data.path()};
  auto sets_sync = std::any_of(extra.begin(), extra.end(), [](auto& x) {
    return x.rfind("--storage.sync=", 0) == 0;
  });
  if (!sets_sync)
    result.emplace_back("--storage.sync=" + sync);
  result.insert(result.end(), extra.begin(), extra.end());
  return result;
}

/// Whether the running test case has failed an assertion or is unwinding.
inline bool current_test_failing() {
  if (std::uncaught_exceptions() > 0)
    return true;
  namespace ut = boost::unit_test;
  auto id = ut::framework::current_test_case().p_id;
  return ut::results_collector.results(id).p_assertions_failed > 0;
}

/// Prints what a node wrote to stderr during the current test if it fails.
class stderr_on_failure {
public:
  explicit stderr_on_failure(const cartd_process& proc)
      : proc_(proc), offset_(proc.stderr_size()) {}

  ~stderr_on_failure() {
    if (current_test_failing())
      std::cerr << "---- cartd stderr (pid " << proc_.pid() << ", port "
                << proc_.port() << ") ----\n"
                << proc_.stderr_text(offset_) << "---- end of stderr ----\n";
  }

private:
  const cartd_process& proc_;
  size_t offset_;
};

/// A node of its own for one test case (default options plus `args`).
class test_node {
public:
  explicit test_node(std::vector<std::string> args = {})
      : proc_(cartd_binary(), std::move(args)), log_(proc_) {}

  cartd_process& proc() noexcept { return proc_; }

  uint16_t port() const noexcept { return proc_.port(); }

private:
  cartd_process proc_;
  stderr_on_failure log_;
};

/// One node per test executable, started on first use with default options.
inline cartd_process& shared_node() {
  static cartd_process proc{cartd_binary()};
  return proc;
}

/// Fixture for test cases that share the node (and use distinct cart ids).
struct shared_node_fixture {
  cartd_process& node = shared_node();
  stderr_on_failure log{node};
  uint16_t port = node.port();
};

// -- checks -------------------------------------------------------------------

/// Whether `value` is an IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov
/// 1994 08:49:37 GMT".
inline bool is_imf_fixdate(const std::string& value) {
  static const std::regex form{
      "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
      "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"};
  return std::regex_match(value, form);
}

/// Checks what every response carries: a Date, and unless it is a 304, a
/// JSON Content-Type and a Content-Length that matches the body (HEAD: no
/// body).
inline void check_framing(const http_response& res, bool head = false) {
  namespace http = boost::beast::http;
  auto status = res.result_int();
  if (status / 100 == 1)
    return;
  auto date = std::string{res[http::field::date]};
  BOOST_TEST(is_imf_fixdate(date), "Date `" << date << "`, status " << status);
  if (status == 304) {
    BOOST_TEST(res.body().empty());
    BOOST_TEST((res.find(http::field::content_length) == res.end()));
    return;
  }
  BOOST_TEST_CONTEXT("status " << status << ", body: " << res.body()) {
    auto type = std::string{res[http::field::content_type]};
    BOOST_TEST(type.rfind("application/json", 0) == 0,
               "Content-Type is `" << type << "`");
    auto length = std::string{res[http::field::content_length]};
    BOOST_TEST(!length.empty(), "response has no Content-Length");
    BOOST_TEST((res.find(http::field::transfer_encoding) == res.end()),
               "response is chunked");
    if (head)
      BOOST_TEST(res.body().empty());
    else if (!length.empty())
      BOOST_TEST(length == std::to_string(res.body().size()));
  }
}

/// Opens a connection, sends one request, checks its framing and returns the
/// response.
inline http_response call(uint16_t port, std::string_view method,
                          std::string_view target, std::string_view body = {},
                          const header_list& headers = {}) {
  auto res = http_call(port, method, target, body, headers);
  check_framing(res, method == "HEAD");
  return res;
}

/// Parses a JSON body; a body that is not JSON fails the test.
inline json body_json(const http_response& res) {
  auto result = json::parse(res.body(), nullptr, false);
  BOOST_TEST(!result.is_discarded(), "body is not JSON: " << res.body());
  return result;
}

/// Checks that `actual` equals `expected`, printing both if not.
inline void check_json(const json& actual, const json& expected) {
  BOOST_TEST((actual == expected),
             "got " << actual.dump() << ", expected " << expected.dump());
}

/// Checks an error response: `status`, `{"error":code,"message":"..."}`.
inline void check_error(const http_response& res, unsigned status,
                        std::string_view code) {
  BOOST_TEST_CONTEXT("expected " << status << " " << code << ", got "
                                 << res.result_int() << " " << res.body()) {
    // One failure per wrong answer: the context already shows all of it.
    if (res.result_int() != status) {
      BOOST_TEST(res.result_int() == status);
      return;
    }
    auto body = body_json(res);
    BOOST_TEST(body.is_object());
    if (!body.is_object())
      return;
    BOOST_TEST((body.contains("error") && body["error"] == code),
               "error is not " << code);
    BOOST_TEST((body.contains("message") && body["message"].is_string() &&
                !body["message"].get<std::string>().empty()));
  }
}

/// The `items` array of a cart as JSON, for comparisons.
inline json items(std::vector<std::pair<std::string, int64_t>> lines) {
  auto result = json::array();
  for (auto& [item, quantity] : lines)
    result.push_back({{"item", item}, {"quantity", quantity}});
  return result;
}

/// Checks a 200 cart response in full (id, items, total, status, version and
/// ETag) and returns its body.
inline json check_cart(const http_response& res, std::string_view id,
                       const json& expected_items, uint64_t version,
                       bool checked_out = false) {
  namespace http = boost::beast::http;
  auto body = body_json(res);
  BOOST_TEST_CONTEXT("cart " << id << ": " << res.result_int() << " "
                             << res.body()) {
    BOOST_TEST(res.result_int() == 200u);
    int64_t total = 0;
    for (auto& line : expected_items)
      total += line["quantity"].get<int64_t>();
    auto expected = json{{"id", std::string{id}},
                         {"items", expected_items},
                         {"total_quantity", total},
                         {"checked_out", checked_out},
                         {"version", version}};
    BOOST_TEST((body == expected), "expected " << expected.dump());
    auto etag = std::string{res[http::field::etag]};
    BOOST_TEST(etag == "\"" + std::to_string(version) + "\"");
  }
  return body;
}

/// The values of a comma-separated header such as `Allow`.
inline std::set<std::string> header_tokens(boost::beast::string_view value) {
  std::set<std::string> result;
  std::string token;
  std::istringstream in{std::string{value}};
  while (std::getline(in, token, ',')) {
    auto first = token.find_first_not_of(" \t");
    auto last = token.find_last_not_of(" \t");
    if (first != std::string::npos)
      result.insert(token.substr(first, last - first + 1));
  }
  return result;
}

} // namespace cartd::test
