#include "bindings/http/render.hpp"

#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

namespace http = cartd::http;

namespace {

std::string rendered(const http::response& res, http::render_options opts) {
  std::string out;
  http::render(out, res, opts);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(render_tests)

BOOST_AUTO_TEST_CASE(response_has_status_line_type_length_and_headers) {
  http::response res;
  res.status = 404;
  res.body = "nope";
  res.content_type = "text/plain";
  res.headers.emplace_back("ETag", "\"3\"");
  BOOST_TEST(rendered(res, {}) == "HTTP/1.1 404 Not Found\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Length: 4\r\n"
                                  "ETag: \"3\"\r\n"
                                  "\r\n"
                                  "nope");
}

BOOST_AUTO_TEST_CASE(head_response_keeps_content_length_but_has_no_body) {
  http::response res;
  res.body = R"({"a":1})";
  BOOST_TEST(rendered(res, {true, false, false, {}, {}}) ==
             "HTTP/1.1 200 OK\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: 7\r\n"
             "\r\n");
}

BOOST_AUTO_TEST_CASE(connection_header_tells_close_or_http10_keep_alive) {
  http::response res;
  BOOST_TEST(rendered(res, {false, true, false, {}, {}}) ==
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n");
  BOOST_TEST(rendered(res, {false, false, true, {}, {}}) ==
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  // Closing wins.
  BOOST_TEST(rendered(res, {false, true, true, {}, {}}).find("keep-alive") ==
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_content_response_has_no_body_or_length) {
  http::response res;
  res.status = 204;
  res.body = "ignored";
  BOOST_TEST(rendered(res, {}) == "HTTP/1.1 204 No Content\r\n\r\n");
}

BOOST_AUTO_TEST_CASE(framing_and_malformed_extra_headers_are_dropped) {
  http::response res;
  res.headers = {{"Content-Length", "99"},
                 {"connection", "upgrade"},
                 {"X-Split", "a\r\nSet-Cookie: evil"},
                 {"Bad Name", "x"},
                 {"Allow", "GET, HEAD"}};
  BOOST_TEST(rendered(res, {}) == "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Content-Length: 0\r\n"
                                  "Allow: GET, HEAD\r\n"
                                  "\r\n");
}

BOOST_AUTO_TEST_CASE(date_follows_the_status_line_and_replaces_the_handlers) {
  http::response res;
  res.status = 304;
  res.headers = {{"date", "Thu, 01 Jan 1970 00:00:00 GMT"}, {"ETag", "\"1\""}};
  http::render_options opts;
  opts.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  BOOST_TEST(rendered(res, opts) == "HTTP/1.1 304 Not Modified\r\n"
                                    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                    "ETag: \"1\"\r\n"
                                    "\r\n");
  // Without a date of the server's, the handler's goes out.
  BOOST_TEST(rendered(res, {}).find("date: Thu") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_status_has_empty_reason_and_invalid_becomes_500) {
  http::response res;
  res.status = 799;
  BOOST_TEST(rendered(res, {}).rfind("HTTP/1.1 799 \r\n", 0) == 0u);
  res.status = 42;
  BOOST_TEST(rendered(res, {}).rfind("HTTP/1.1 500 Internal Server Error\r\n",
                                     0) == 0u);
}

BOOST_AUTO_TEST_CASE(render_appends_to_what_the_buffer_holds) {
  std::string out = "prefix|";
  http::render(out, http::response{}, {});
  BOOST_TEST(out.rfind("prefix|HTTP/1.1 200 OK\r\n", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_head_with_every_part_at_its_longest_is_whole) {
  // render_head writes into room it sized in advance: every part at once,
  // long values, the largest numbers, after bytes already in the buffer.
  http::response res;
  res.status = 431;
  res.content_type = std::string(300, 't');
  res.body = std::string(123456, 'b');
  for (int i = 0; i < 20; ++i)
    res.headers.emplace_back("X-H" + std::to_string(i),
                             std::string(i * 7, 'v'));
  res.headers.emplace_back("Content-Length", "1"); // dropped
  res.headers.emplace_back("Bad Name", "x");       // dropped
  std::string id(128, 'i');
  std::string out = std::string(1000, 'p');
  http::render_head(out, res,
                    {false, false, true, id, "Sun, 06 Nov 1994 08:49:37 GMT"});
  std::string expected = std::string(1000, 'p') +
                         "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                         "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                         "Content-Type: " +
                         std::string(300, 't') +
                         "\r\n"
                         "Content-Length: 123456\r\n";
  for (int i = 0; i < 20; ++i)
    expected +=
        "X-H" + std::to_string(i) + ": " + std::string(i * 7, 'v') + "\r\n";
  expected += "X-Request-Id: " + id + "\r\nConnection: keep-alive\r\n\r\n";
  BOOST_TEST(out == expected);
}

BOOST_AUTO_TEST_CASE(error_response_is_json_with_code_and_message) {
  auto res = http::error_response(404, "not_found", "no such cart");
  BOOST_TEST(res.status == 404u);
  BOOST_TEST(res.content_type == "application/json");
  BOOST_TEST(res.body == R"({"error":"not_found","message":"no such cart"})");
}

BOOST_AUTO_TEST_CASE(error_response_escapes_the_message) {
  auto res = http::error_response(400, "bad_request",
                                  "quote \" newline \n bad utf8 \xff");
  auto json = nlohmann::json::parse(res.body);
  BOOST_TEST(json["error"].get<std::string>() == "bad_request");
  BOOST_TEST(
      json["message"].get<std::string>().rfind("quote \" newline \n", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(request_id_is_added_when_given) {
  http::response res;
  BOOST_TEST(rendered(res, {false, false, false, "abc-1", {}}) ==
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Content-Length: 0\r\nX-Request-Id: abc-1\r\n\r\n");
}
