#pragma once

// Turns the bytes of one connection into requests. The only code in cartd
// that touches request bytes; it knows nothing about sockets or actors, so it
// is tested by feeding it bytes in every fragmentation.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "bindings/http/http.hpp"

namespace cartd::http {

/// What `request_reader::next` found in the buffered bytes.
enum class read_status {
  /// The buffered bytes do not complete a request yet: append more.
  need_more,
  /// The header of a request with `Expect: 100-continue` was accepted and
  /// none of its body has arrived: send `HTTP/1.1 100 Continue` now, then
  /// call `next` again.
  send_continue,
  /// A complete request is ready: call `take`.
  complete,
  /// The bytes are not an acceptable request: send `error()` and close.
  failed,
};

/// The enumerator's name, e.g. "need_more".
std::string_view to_string(read_status x) noexcept;

/// Why a request was refused: the HTTP status and the error code and message
/// for `error_response`.
struct read_error {
  /// 400, 413, 414, 431 or 501.
  unsigned status = 400;
  /// `bad_request`, `body_too_large`, `uri_too_long`, `headers_too_large` or
  /// `not_implemented` (a transfer coding other than chunked).
  std::string_view code;
  /// A short human-readable explanation.
  std::string_view message;
};

/// Parses the requests of one connection with Boost.Beast, one at a time:
/// `append` the received bytes, then call `next` until it answers
/// `need_more`. Bytes after a complete request (pipelining) stay buffered and
/// start the next one. Limits come from `server_config`: request line plus
/// header beyond `max_header_size` gives 431 (414 when the request line alone
/// exceeds `max_uri_size`), a target beyond `max_uri_size` 414, a body beyond
/// `max_body_size` 413 and malformed bytes 400. Once failed, it stays failed.
class request_reader {
public:
  explicit request_reader(const server_config& cfg);

  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  // -- modifiers --------------------------------------------------------------

  /// Appends bytes received from the peer (copied).
  void append(const char* data, size_t size);

  /// Appends bytes received from the peer (copied).
  void append(std::string_view bytes) { append(bytes.data(), bytes.size()); }

  /// Parses as far as the buffered bytes allow. Returns `complete` until the
  /// request is taken and `failed` for good after an error.
  read_status next();

  /// Moves out the request after `next` returned `complete`. A HEAD request
  /// comes out as GET with `is_head` set.
  request take();

  // -- observers --------------------------------------------------------------

  /// The reason after `next` returned `failed`.
  const read_error& error() const noexcept { return error_; }

  /// Whether part of a request has arrived but not yet been taken (also true
  /// while unparsed pipelined bytes wait in the buffer).
  bool has_partial() const noexcept {
    return parser_.has_value() || pos_ != buf_.size();
  }

  /// The number of received bytes not yet consumed by the parser.
  size_t buffered() const noexcept { return buf_.size() - pos_; }

private:
  using parser_type =
      boost::beast::http::request_parser<boost::beast::http::string_body>;

  read_status fail(unsigned status, std::string_view code,
                   std::string_view message);

  read_status fail(const boost::system::error_code& ec);

  /// 431, or 414 when the request line alone exceeds max_uri_size.
  read_status fail_header_too_large();

  /// Drops consumed bytes so that appending does not grow the buffer.
  void compact();

  /// Length of the current request's line (up to the first line break or
  /// the end of the buffered bytes). Valid until its header is parsed.
  size_t request_line_length() const noexcept;

  // Limits, copied from server_config.
  size_t max_header_size_;
  size_t max_body_size_;
  size_t max_uri_size_;
  // Received bytes; [pos_, size) are not consumed yet. While a header is
  // incomplete, the buffer keeps it from msg_start_ on.
  std::string buf_;
  size_t pos_ = 0;
  size_t msg_start_ = 0;
  // Engaged from the first byte of a request until it is taken.
  std::optional<parser_type> parser_;
  bool failed_ = false;
  read_error error_;
};

} // namespace cartd::http
