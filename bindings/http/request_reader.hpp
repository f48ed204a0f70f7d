#pragma once

// Turns the bytes of one connection into requests. The only code in cartd
// that touches request bytes; it knows nothing about sockets or actors, so it
// is tested by feeding it bytes in every fragmentation.

#include <cstddef>
#include <cstdint>
#include <memory>
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
/// `max_body_size` 413, a chunk-size line or trailer beyond `max_header_size`
/// 400 and malformed bytes 400. Once failed, it stays failed. The same bytes
/// get the same answer however they arrive (only `send_continue` depends on
/// it): a header is judged as if it came in one piece, on its first
/// `max_header_size` bytes.
class request_reader {
public:
  explicit request_reader(const server_config& cfg);

  ~request_reader();

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

  /// A parser that only checks: Beast's rules without storing anything.
  class header_check;

  /// Skips empty lines, then parses the header of the next request if it is
  /// all in: std::nullopt once it is (and passed the checks that need the
  /// whole header), else what `next` answers.
  std::optional<read_status> start_request();

  /// Whether Beast would still answer need_more on the first `view` bytes
  /// of a header that was incomplete before (false: parse it for real).
  bool still_incomplete(size_t view);

  /// Whether appending these bytes to the incomplete rest of a header
  /// leaves Beast's answer on it as it was (a conservative test).
  bool safe_for_rest(const char* first, size_t size) const;

  /// need_more, or 431/414 when the header did not end within the first
  /// `header_limit_` bytes (`view` is how many Beast was shown).
  read_status header_incomplete(size_t view);

  /// Beast's on_chunk_header callback: counts each chunk's size once
  /// against max_body_size (a body_limit error beyond it).
  struct chunk_budget {
    request_reader* self;
    void operator()(uint64_t size, boost::beast::string_view extensions,
                    boost::system::error_code& ec);
  };
  chunk_budget chunk_budget_{this};

  /// Gives a parser eager(false) and the limits.
  template <class Parser>
  void configure(Parser& p) const;

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

  // Limits, from server_config (max_header_size capped to Beast's 32 bits).
  size_t header_limit_;
  size_t max_body_size_;
  size_t max_uri_size_;
  // Received bytes; [pos_, size) are not consumed yet. Until its header is
  // parsed, a request starts at pos_ (== msg_start_).
  std::string buf_;
  size_t pos_ = 0;
  size_t msg_start_ = 0;
  // Engaged once a request's header is parsed, until the request is taken.
  std::optional<parser_type> parser_;
  // The current request's header was incomplete at least once.
  bool header_pending_ = false;
  // While it is: a parser that took its complete lines (still_incomplete),
  // how many bytes of the header it was given and how many it consumed
  // (check_fed_ = max: it could not keep up).
  std::unique_ptr<header_check> check_;
  size_t check_fed_ = 0;
  size_t check_consumed_ = 0;
  // How much of the header still_incomplete saw, and where the incomplete
  // rest after check_'s lines ended then.
  size_t checked_view_ = 0;
  enum class rest_part : uint8_t { unknown, method, target, name, value };
  rest_part rest_part_ = rest_part::unknown;
  // Beast took a byte of the current request's body.
  bool body_started_ = false;
  // What a chunked body may still declare (chunk_budget).
  uint64_t chunk_budget_left_ = 0;
  bool failed_ = false;
  read_error error_;
};

} // namespace cartd::http
