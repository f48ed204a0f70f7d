// End-to-end tests of the HTTP/1.x layer: pipelining, keep-alive, HTTP/1.0,
// Connection: close, 100-continue, chunked bodies, HEAD, size limits,
// garbage, fragmentation, slow and idle clients and the connection limit.

#define BOOST_TEST_MODULE e2e_http
#include "tests/e2e/e2e.hpp"

#include <csignal>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace cartd::test;

namespace {

namespace http = boost::beast::http;

std::string add_request(std::string_view cart, std::string_view item,
                        int64_t quantity = 1) {
  auto body = json{{"item", std::string{item}}, {"quantity", quantity}};
  return request_text("POST", "/carts/" + std::string{cart} + "/items",
                      body.dump());
}

std::string get_request(std::string_view target) {
  return request_text("GET", target);
}

/// Renders `pieces` as a chunked body, terminator included.
std::string chunked(const std::vector<std::string>& pieces) {
  std::string result;
  for (auto& piece : pieces) {
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
    result.append(size).append(piece).append("\r\n");
  }
  result += "0\r\n\r\n";
  return result;
}

std::string chunked_post_head(std::string_view cart) {
  return "POST /carts/" + std::string{cart} +
         "/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\n\r\n";
}

/// Reads a response that must arrive and checks its framing.
http_response read_checked(http_connection& conn, bool head = false) {
  auto res = conn.read_response(head);
  BOOST_REQUIRE_MESSAGE(res, "the server closed instead of answering");
  check_framing(*res, head);
  return std::move(*res);
}

uint64_t version_of(const http_response& res) {
  return body_json(res).value("version", uint64_t{0});
}

/// Expects a new connection to be served normally.
void check_node_serves(uint16_t port) {
  auto res = call(port, "GET", "/health");
  BOOST_TEST(res.result_int() == 200u,
             "node no longer serves: " << res.result_int() << " "
                                       << res.body());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(connections, shared_node_fixture)

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  http_connection conn{port};
  conn.send(add_request("h-pipe", "apple") + get_request("/carts/h-pipe") +
            add_request("h-pipe", "pear", 2) +
            request_text("HEAD", "/carts/h-pipe") +
            get_request("/carts/h-pipe"));
  auto first = read_checked(conn);
  check_cart(first, "h-pipe", items({{"apple", 1}}), 1);
  check_cart(read_checked(conn), "h-pipe", items({{"apple", 1}}), 1);
  check_cart(read_checked(conn), "h-pipe", items({{"apple", 1}, {"pear", 2}}),
             2);
  auto head = read_checked(conn, true);
  BOOST_TEST(head.result_int() == 200u);
  BOOST_TEST(std::string{head[http::field::etag]} == "\"2\"");
  auto last = read_checked(conn);
  check_cart(last, "h-pipe", items({{"apple", 1}, {"pear", 2}}), 2);
  BOOST_TEST(std::string{head[http::field::content_length]} ==
             std::to_string(last.body().size()));
}

BOOST_AUTO_TEST_CASE(pipelined_requests_to_many_carts_keep_their_order) {
  http_connection conn{port};
  std::string bytes;
  for (int i = 0; i < 30; ++i)
    bytes += add_request("h-order-" + std::to_string(i % 10), "apple");
  conn.send(bytes);
  for (int i = 0; i < 30; ++i) {
    auto res = read_checked(conn);
    auto body = body_json(res);
    BOOST_TEST_CONTEXT("response #" << i << ": " << res.body()) {
      BOOST_TEST(res.result_int() == 200u);
      BOOST_TEST(body.value("id", "") == "h-order-" + std::to_string(i % 10));
      BOOST_TEST(body.value("version", 0) == i / 10 + 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(keep_alive_connection_serves_many_requests) {
  http_connection conn{port};
  for (int i = 1; i <= 25; ++i) {
    auto res =
        conn.exchange("POST", "/carts/h-keep/items", R"({"item":"apple"})");
    check_framing(res);
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
    BOOST_TEST(res.keep_alive());
    BOOST_TEST(version_of(res) == static_cast<uint64_t>(i));
    res = conn.exchange("GET", "/health");
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  }
}

BOOST_AUTO_TEST_CASE(http_1_0_request_closes_after_the_response) {
  http_connection conn{port};
  conn.send("GET /health HTTP/1.0\r\n\r\n");
  auto res = read_checked(conn);
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(!res.keep_alive());
  BOOST_TEST(conn.wait_closed(10s));
}

BOOST_AUTO_TEST_CASE(http_1_0_with_keep_alive_stays_open) {
  http_connection conn{port};
  for (int i = 0; i < 3; ++i) {
    conn.send("GET /carts/h-10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto res = read_checked(conn);
    BOOST_TEST(res.result_int() == 200u);
    BOOST_TEST(res.keep_alive(), "the response does not keep the "
                                 "connection alive");
  }
  auto body = json{{"item", "apple"}}.dump();
  conn.send("POST /carts/h-10/items HTTP/1.0\r\nConnection: keep-alive\r\n"
            "Content-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  check_cart(read_checked(conn), "h-10", items({{"apple", 1}}), 1);
  conn.send("GET /health HTTP/1.0\r\n\r\n");
  BOOST_TEST(read_checked(conn).result_int() == 200u);
  BOOST_TEST(conn.wait_closed(10s));
}

BOOST_AUTO_TEST_CASE(connection_close_is_honoured) {
  http_connection conn{port};
  // The second request must not be answered: the first one ends the
  // connection.
  conn.send(request_text("GET", "/health", {}, {{"Connection", "close"}}) +
            get_request("/health"));
  auto res = read_checked(conn);
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(!res.keep_alive());
  BOOST_TEST(!conn.read_response().has_value());
  BOOST_TEST(conn.wait_closed(10s));
}

BOOST_AUTO_TEST_CASE(expect_100_continue_gets_continue_then_the_response) {
  http_connection conn{port};
  auto body = json{{"item", "apple"}, {"quantity", 3}}.dump();
  conn.send("POST /carts/h-100/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n");
  auto interim = conn.read_response();
  BOOST_REQUIRE(interim);
  BOOST_TEST(interim->result_int() == 100u);
  conn.send(body);
  check_cart(read_checked(conn), "h-100", items({{"apple", 3}}), 1);
  // The connection stays usable.
  BOOST_TEST(conn.exchange("GET", "/health").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(chunked_request_body_is_accepted) {
  http_connection conn{port};
  conn.send(chunked_post_head("h-chunk"));
  conn.send_in_pieces(
      chunked({R"({"item")", R"(:"kiwi",)", R"("quantity":3})"}), 7);
  check_cart(read_checked(conn), "h-chunk", items({{"kiwi", 3}}), 1);
  BOOST_TEST(conn.exchange("GET", "/health").result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(a_gzip_coded_body_gets_501_and_changes_nothing) {
  auto before = version_of(call(port, "GET", "/carts/h-gzip"));
  http_connection conn{port};
  conn.send("POST /carts/h-gzip/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: gzip, chunked\r\n\r\n" +
            chunked({R"({"item":"kiwi"})"}));
  auto res = read_checked(conn);
  BOOST_TEST(res.result_int() == 501u);
  BOOST_TEST(body_json(res).value("error", "") == "not_implemented");
  BOOST_TEST(version_of(call(port, "GET", "/carts/h-gzip")) == before);
  check_node_serves(port);
}

BOOST_AUTO_TEST_CASE(an_absolute_form_target_is_served) {
  http_connection conn{port};
  conn.send("GET http://127.0.0.1:" + std::to_string(port) +
            "/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  BOOST_TEST(read_checked(conn).result_int() == 200u);
  conn.send("POST http://127.0.0.1/carts/h-abs/items HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 15\r\n\r\n{\"item\":\"kiwi\"}");
  check_cart(read_checked(conn), "h-abs", items({{"kiwi", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(head_response_has_no_body_even_when_pipelined) {
  call(port, "POST", "/carts/h-head/items", R"({"item":"apple"})");
  http_connection conn{port};
  conn.send(request_text("HEAD", "/carts/h-head") +
            request_text("HEAD", "/health") + get_request("/carts/h-head"));
  auto head_cart = read_checked(conn, true);
  auto head_health = read_checked(conn, true);
  auto get_cart = read_checked(conn);
  BOOST_TEST(head_cart.result_int() == 200u);
  BOOST_TEST(head_health.result_int() == 200u);
  BOOST_TEST(std::string{head_cart[http::field::content_length]} ==
             std::to_string(get_cart.body().size()));
  BOOST_TEST(std::string{head_cart[http::field::etag]} == "\"1\"");
  check_cart(get_cart, "h-head", items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(limits, shared_node_fixture)

BOOST_AUTO_TEST_CASE(oversized_headers_are_headers_too_large) {
  // Just below the limit passes.
  auto res =
      call(port, "GET", "/health", {}, {{"X-Pad", std::string(7000, 'p')}});
  BOOST_TEST(res.result_int() == 200u);
  for (auto pad : {std::string(9000, 'p'), std::string(100'000, 'p')}) {
    BOOST_TEST_CONTEXT("X-Pad of " << pad.size() << " bytes") {
      http_connection conn{port};
      conn.send(request_text("GET", "/health", {}, {{"X-Pad", pad}}));
      check_error(read_checked(conn), 431, "headers_too_large");
    }
  }
  // Many small headers count too.
  header_list many;
  for (int i = 0; i < 600; ++i)
    many.emplace_back("X-Field-" + std::to_string(i), "value");
  http_connection conn{port};
  conn.send(request_text("GET", "/health", {}, many));
  check_error(read_checked(conn), 431, "headers_too_large");
  check_node_serves(port);
}

BOOST_AUTO_TEST_CASE(oversized_body_is_body_too_large) {
  // Exactly the limit passes: JSON may end in whitespace.
  auto body = std::string{R"({"item":"big"})"};
  body.resize(65536, ' ');
  check_cart(call(port, "POST", "/carts/h-413/items", body), "h-413",
             items({{"big", 1}}), 1);
  body += ' ';
  http_connection conn{port};
  conn.send(request_text("POST", "/carts/h-413/items", body));
  check_error(read_checked(conn), 413, "body_too_large");
  // A length far beyond the limit is refused without waiting for the body.
  http_connection conn2{port};
  conn2.send("POST /carts/h-413/items HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: 100000000\r\n\r\n{");
  check_error(read_checked(conn2), 413, "body_too_large");
  check_cart(call(port, "GET", "/carts/h-413"), "h-413", items({{"big", 1}}),
             1);
}

BOOST_AUTO_TEST_CASE(oversized_chunked_body_is_body_too_large) {
  http_connection conn{port};
  conn.send(chunked_post_head("h-413-chunked"));
  conn.send(chunked({R"({"item":"big","pad":")", std::string(40'000, 'p'),
                     std::string(30'000, 'p'), R"("})"}));
  check_error(read_checked(conn), 413, "body_too_large");
  check_cart(call(port, "GET", "/carts/h-413-chunked"), "h-413-chunked",
             items({}), 0);
}

BOOST_AUTO_TEST_CASE(oversized_uri_is_uri_too_long) {
  auto target_of_size = [](size_t n) {
    auto result = std::string{"/health?pad="};
    result.resize(n, 'u');
    return result;
  };
  auto res = call(port, "GET", target_of_size(2048));
  BOOST_TEST(res.result_int() == 200u, "a 2048-byte target got "
                                           << res.result_int() << " "
                                           << res.body());
  for (size_t n : {2049u, 4000u}) {
    BOOST_TEST_CONTEXT("target of " << n << " bytes") {
      http_connection conn{port};
      conn.send(request_text("GET", target_of_size(n)));
      check_error(read_checked(conn), 414, "uri_too_long");
    }
  }
  http_connection conn{port};
  conn.send(request_text("POST", "/carts/" + std::string(3000, 'c') + "/items",
                         R"({"item":"a"})"));
  check_error(read_checked(conn), 414, "uri_too_long");
  check_node_serves(port);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(bad_input, shared_node_fixture)

BOOST_AUTO_TEST_CASE(
    garbage_gets_bad_request_and_a_close_and_the_node_serves_on) {
  std::mt19937 gen{42};
  std::string random_bytes;
  for (int i = 0; i < 1000; ++i)
    random_bytes += static_cast<char>(gen() & 0xFF);
  random_bytes += "\r\n\r\n";
  std::vector<std::string> inputs{
      "HELLO\r\n\r\n",
      std::string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15},
      std::string{"\0\0\0\0\r\n\r\n", 8},
      random_bytes,
      "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
      "Content-Length: 6\r\n\r\nhello!",
      "POST /carts/h-garbage/items HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "zz\r\n{}\r\n0\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
  };
  for (auto& bytes : inputs) {
    auto shown = json(bytes.substr(0, 60))
                     .dump(-1, ' ', true, json::error_handler_t::replace);
    BOOST_TEST_CONTEXT("input " << shown) {
      http_connection conn{port};
      conn.send(bytes);
      auto res = conn.read_response();
      BOOST_REQUIRE(res);
      check_framing(*res);
      check_error(*res, 400, "bad_request");
      BOOST_TEST(conn.wait_closed(10s));
      check_node_serves(port);
    }
  }
  check_cart(call(port, "GET", "/carts/h-garbage"), "h-garbage", items({}), 0);
}

BOOST_AUTO_TEST_CASE(garbage_after_a_good_request_ends_the_connection) {
  http_connection conn{port};
  conn.send(add_request("h-good-then-bad", "apple") + "BLAH BLAH\r\n\r\n" +
            add_request("h-good-then-bad", "pear"));
  check_cart(read_checked(conn), "h-good-then-bad", items({{"apple", 1}}), 1);
  check_error(read_checked(conn), 400, "bad_request");
  BOOST_TEST(conn.wait_closed(10s));
  check_cart(call(port, "GET", "/carts/h-good-then-bad"), "h-good-then-bad",
             items({{"apple", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(requests_split_into_small_writes_are_served) {
  // Two pipelined requests, split at every possible boundary for small
  // pieces: the parser must cope with any fragmentation.
  uint64_t version = 0;
  for (size_t piece : {1u, 2u, 5u, 10u, 100u}) {
    BOOST_TEST_CONTEXT("pieces of " << piece << " bytes") {
      http_connection conn{port};
      conn.send_in_pieces(add_request("h-split", "kiwi") +
                              get_request("/carts/h-split"),
                          piece);
      ++version;
      auto added = read_checked(conn);
      BOOST_TEST(added.result_int() == 200u);
      BOOST_TEST(version_of(added) == version);
      auto got = read_checked(conn);
      check_cart(got, "h-split",
                 items({{"kiwi", static_cast<int64_t>(version)}}), version);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(timeouts)

/// Expects the server to give up on a request: a 408 and a close, or a plain
/// close, within a generous wait.
void check_given_up(http_connection& conn) {
  auto res = conn.read_response();
  if (res) {
    check_framing(*res);
    check_error(*res, 408, "request_timeout");
  }
  BOOST_TEST(conn.wait_closed(10s), "the connection is still open");
}

BOOST_AUTO_TEST_CASE(slow_client_is_closed_after_the_idle_timeout) {
  test_node node{{"--http.idle-timeout=1s"}};
  http_connection headers_only{node.port(), 15s};
  headers_only.send("POST /carts/h-slow/items HTTP/1.1\r\nHost: x\r\n");
  http_connection part_of_body{node.port(), 15s};
  part_of_body.send("POST /carts/h-slow/items HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 20\r\n\r\n{\"item\":");
  http_connection nothing{node.port(), 15s};
  check_given_up(headers_only);
  check_given_up(part_of_body);
  check_given_up(nothing);
  check_cart(call(node.port(), "GET", "/carts/h-slow"), "h-slow", items({}), 0);
}

BOOST_AUTO_TEST_CASE(trickling_client_is_closed_though_bytes_keep_coming) {
  test_node node{{"--http.idle-timeout=1s"}};
  http_connection conn{node.port(), 15s};
  conn.send("GET /health HTTP/1.1\r\nHost: x\r\n");
  // One header byte every 100 ms, never ending the request: without a
  // deadline for the whole request this would hold the connection forever.
  auto closed = false;
  for (int i = 0; i < 150 && !closed; ++i)
    closed = !conn.send("X") || conn.wait_closed(100ms);
  BOOST_REQUIRE_MESSAGE(closed, "still open after 15 s of trickling");
  check_given_up(conn);
  check_node_serves(node.port());
}

BOOST_AUTO_TEST_CASE(idle_keep_alive_connection_is_closed_after_the_timeout) {
  test_node node{{"--http.idle-timeout=1s"}};
  http_connection conn{node.port(), 15s};
  BOOST_TEST(conn.exchange("GET", "/health").result_int() == 200u);
  BOOST_TEST(conn.wait_closed(10s), "the idle connection is still open");
  BOOST_TEST(conn.pending().empty(), "unexpected bytes: " << conn.pending());
}

BOOST_AUTO_TEST_CASE(active_keep_alive_connection_outlives_the_idle_timeout) {
  test_node node{{"--http.idle-timeout=2s"}};
  http_connection conn{node.port(), 15s};
  // Requests every 200 ms for 3 s: the connection is never idle for 2 s.
  for (int i = 0; i < 15; ++i) {
    BOOST_REQUIRE_EQUAL(conn.exchange("GET", "/health").result_int(), 200u);
    std::this_thread::sleep_for(200ms);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_get_too_many_connections) {
  test_node node{{"--http.max-connections=3"}};
  auto port = node.port();
  std::vector<http_connection> open;
  for (int i = 0; i < 3; ++i) {
    open.emplace_back(port);
    BOOST_REQUIRE_EQUAL(open.back().exchange("GET", "/health").result_int(),
                        200u);
  }
  for (int i = 0; i < 2; ++i) {
    http_connection extra{port};
    extra.send(get_request("/health"));
    auto res = extra.read_response();
    BOOST_REQUIRE_MESSAGE(res, "closed without a 503");
    check_framing(*res);
    check_error(*res, 503, "too_many_connections");
    BOOST_TEST(extra.wait_closed(10s));
  }
  // The admitted connections are unaffected.
  for (auto& conn : open)
    BOOST_TEST(conn.exchange("GET", "/health").result_int() == 200u);
  // Once one closes, a new connection is admitted (the server may take a
  // moment to notice the close).
  open.pop_back();
  auto admitted = false;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!admitted && std::chrono::steady_clock::now() < deadline) {
    try {
      admitted = http_call(port, "GET", "/health").result_int() == 200u;
    } catch (const std::runtime_error&) {
      // Closed without an answer: try again.
    }
    if (!admitted)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(admitted, "no connection admitted after one closed");
}

BOOST_AUTO_TEST_SUITE(drain)

namespace {

/// Waits up to 20 s for `text` in the node's stderr.
bool stderr_says(cartd_process& proc, std::string_view text) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (proc.stderr_text().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

/// Sends a GET /health and the first `cut` bytes of `request` in one write
/// and reads the GET's answer: the node then holds the start of `request`.
void send_half(http_connection& conn, const std::string& request, size_t cut) {
  BOOST_REQUIRE(conn.send(get_request("/health") + request.substr(0, cut)));
  auto health = conn.read_response();
  BOOST_REQUIRE(health);
  BOOST_REQUIRE_EQUAL(health->result_int(), 200u);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_request_half_received_at_sigterm_is_read_and_answered) {
  test_node node{{"--http.drain-timeout=20s", "--http.idle-timeout=30s"}};
  http_connection conn{node.port(), 30s};
  auto request = add_request("drain-half", "apple", 2);
  auto cut = request.size() - 6; // in the body
  send_half(conn, request, cut);
  node.proc().kill(SIGTERM);
  // Draining now (the log says so), with the half request still held.
  BOOST_REQUIRE(stderr_says(node.proc(), "http: draining"));
  BOOST_TEST(node.proc().stderr_text().find("1 half received") !=
             std::string::npos);
  BOOST_REQUIRE(conn.send(request.substr(cut)));
  auto res = conn.read_response();
  BOOST_REQUIRE_MESSAGE(res, "the connection closed without an answer");
  check_framing(*res);
  check_cart(*res, "drain-half", items({{"apple", 2}}), 1);
  BOOST_TEST(std::string{(*res)[http::field::connection]} == "close");
  BOOST_TEST(conn.wait_closed(10s));
  auto status = node.proc().wait_exit(30s);
  BOOST_REQUIRE_MESSAGE(status, "cartd still runs after SIGTERM");
  BOOST_TEST(status->exited_normally());
  BOOST_TEST(status->code == 0);
}

BOOST_AUTO_TEST_CASE(
    a_request_still_half_received_at_the_drain_timeout_gets_503) {
  test_node node{{"--http.drain-timeout=500ms", "--http.idle-timeout=30s"}};
  http_connection conn{node.port(), 30s};
  auto request = request_text("GET", "/carts/drain-never");
  send_half(conn, request, request.size() / 2);
  node.proc().kill(SIGTERM);
  auto res = conn.read_response();
  BOOST_REQUIRE_MESSAGE(res, "the connection closed without an answer");
  check_framing(*res);
  check_error(*res, 503, "shutting_down");
  BOOST_TEST(std::string{(*res)[http::field::connection]} == "close");
  BOOST_TEST(conn.wait_closed(10s));
  auto status = node.proc().wait_exit(30s);
  BOOST_REQUIRE_MESSAGE(status, "cartd still runs after SIGTERM");
  BOOST_TEST(status->code == 0);
}

BOOST_AUTO_TEST_SUITE_END()
