#pragma once

// A raw HTTP/1.x client over a blocking POSIX socket, for end-to-end tests.
//
// Requests are plain bytes (so tests can send garbage, pipeline, fragment or
// trickle them); responses are parsed by Boost.Beast's response_parser.
//
//   http_connection conn{port};
//   conn.send(request_text("GET", "/health"));
//   auto res = conn.read_response();      // nullopt: the server closed
//   conn.send(request_text("POST", "/carts/c1/items", R"({"item":"a"})"));
//   ...

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace cartd::test {

using http_response =
    boost::beast::http::response<boost::beast::http::string_body>;

using header_list = std::vector<std::pair<std::string, std::string>>;

/// Renders an HTTP/1.1 request. Adds `Host`; for a non-empty body also
/// `Content-Type: application/json` and `Content-Length`, unless `headers`
/// already name that field (or `Transfer-Encoding`, for the length).
std::string request_text(std::string_view method, std::string_view target,
                         std::string_view body = {},
                         const header_list& headers = {});

/// Percent-encodes every byte outside `[A-Za-z0-9._~-]`.
std::string percent_encode(std::string_view str);

/// One TCP connection to 127.0.0.1. Reads time out after `timeout`
/// (SO_RCVTIMEO); a timed-out read throws `std::runtime_error`.
class http_connection {
public:
  /// Connects; throws `std::runtime_error` if the connection fails.
  explicit http_connection(uint16_t port, std::chrono::milliseconds timeout =
                                              std::chrono::seconds{10});

  http_connection(http_connection&& other) noexcept;

  http_connection& operator=(http_connection&& other) noexcept;

  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  ~http_connection();

  /// Tries to connect; returns nothing if the connection is refused.
  static std::optional<http_connection>
  try_connect(uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::seconds{10});

  // -- sending ----------------------------------------------------------------

  /// Sends all of `bytes`. Returns false if the peer closed or reset the
  /// connection; throws on any other error.
  bool send(std::string_view bytes);

  /// Sends `bytes` in writes of at most `piece_size` bytes (with TCP_NODELAY),
  /// pausing `pause` between them. Returns false if the peer went away.
  bool send_in_pieces(
      std::string_view bytes, size_t piece_size,
      std::chrono::milliseconds pause = std::chrono::milliseconds{1});

  /// Half-closes the connection (no more requests).
  void shutdown_write();

  // -- receiving --------------------------------------------------------------

  /// Reads the next response, interim 1xx responses included. Set
  /// `head` when the response answers a HEAD request (no body follows).
  /// Returns nothing if the peer closed the connection before the first byte
  /// of a response; throws `std::runtime_error` on a timeout, a parse error
  /// or a response cut off by a close.
  std::optional<http_response> read_response(bool head = false);

  /// Reads until the peer closes (true) or `timeout` passes (false). Bytes
  /// that arrive meanwhile are kept in `pending()`.
  bool wait_closed(std::chrono::milliseconds timeout);

  /// Received bytes not yet consumed by `read_response`.
  const std::string& pending() const noexcept { return buffer_; }

  /// Sends `request_text(...)` and reads the (final) response; throws if the
  /// connection closes instead.
  http_response exchange(std::string_view method, std::string_view target,
                         std::string_view body = {},
                         const header_list& headers = {});

private:
  enum class fill_result { data, closed, timeout };

  /// Appends what one recv delivers to `buffer_`.
  fill_result fill();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  bool eof_ = false;
};

/// Opens a connection, exchanges one request and closes it.
http_response http_call(uint16_t port, std::string_view method,
                        std::string_view target, std::string_view body = {},
                        const header_list& headers = {});

} // namespace cartd::test
