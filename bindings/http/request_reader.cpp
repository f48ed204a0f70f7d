#include "bindings/http/request_reader.hpp"

#include <algorithm>
#include <limits>
#include <memory>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "bindings/http/detail/token.hpp"

namespace cartd::http {

namespace beast_http = boost::beast::http;

namespace {

/// Whether every Transfer-Encoding field lists `chunked` alone: Beast
/// decodes chunked and ignores the codings before it, so a body in any
/// other coding (gzip, chunked) would be taken as plain bytes. RFC 9112
/// 6.1: a server answers 501 to a coding it does not understand.
template <class Message>
bool only_chunked(const Message& msg) {
  auto range = msg.equal_range(beast_http::field::transfer_encoding);
  for (auto i = range.first; i != range.second; ++i) {
    std::string_view list{i->value().data(), i->value().size()};
    while (!list.empty()) {
      auto comma = list.find(',');
      auto coding = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{}
                                             : list.substr(comma + 1);
      coding = coding.substr(0, coding.find(';'));
      while (!coding.empty() &&
             (coding.front() == ' ' || coding.front() == '\t'))
        coding.remove_prefix(1);
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
        coding.remove_suffix(1);
      if (!coding.empty() &&
          !boost::beast::iequals(
              boost::beast::string_view{coding.data(), coding.size()},
              "chunked"))
        return false;
    }
  }
  return true;
}

} // namespace

class request_reader::header_check : public beast_http::basic_parser<true> {
  void on_request_impl(beast_http::verb, boost::beast::string_view,
                       boost::beast::string_view, int,
                       boost::system::error_code&) override {
    // nop
  }

  void on_response_impl(int, boost::beast::string_view, int,
                        boost::system::error_code&) override {
    // nop
  }

  void on_field_impl(beast_http::field, boost::beast::string_view,
                     boost::beast::string_view,
                     boost::system::error_code&) override {
    // nop
  }

  void on_header_impl(boost::system::error_code&) override {
    // nop
  }

  void on_body_init_impl(const boost::optional<uint64_t>&,
                         boost::system::error_code&) override {
    // nop
  }

  size_t on_body_impl(boost::beast::string_view body,
                      boost::system::error_code&) override {
    return body.size();
  }

  void on_chunk_header_impl(uint64_t, boost::beast::string_view,
                            boost::system::error_code&) override {
    // nop
  }

  size_t on_chunk_body_impl(uint64_t, boost::beast::string_view body,
                            boost::system::error_code&) override {
    return body.size();
  }

  void on_finish_impl(boost::system::error_code&) override {
    // nop
  }
};

std::string_view to_string(read_status x) noexcept {
  switch (x) {
  case read_status::need_more:
    return "need_more";
  case read_status::send_continue:
    return "send_continue";
  case read_status::complete:
    return "complete";
  case read_status::failed:
    return "failed";
  }
  return "?";
}

request_reader::~request_reader() = default;

request_reader::request_reader(const server_config& cfg)
    : header_limit_(std::min<size_t>(cfg.max_header_size,
                                     std::numeric_limits<uint32_t>::max())),
      max_body_size_(cfg.max_body_size), max_uri_size_(cfg.max_uri_size) {
  // nop
}

void request_reader::append(const char* data, size_t size) {
  if (failed_)
    return;
  buf_.append(data, size);
}

read_status request_reader::next() {
  if (failed_)
    return read_status::failed;
  for (;;) {
    if (!parser_)
      if (auto status = start_request())
        return *status;
    auto& p = *parser_;
    if (p.is_done())
      return read_status::complete;
    auto avail = buf_.size() - pos_;
    if (avail == 0) {
      compact();
      return read_status::need_more;
    }
    // Beast 1.74 asserts `n >= 5` (basic_parser.ipp:688, fixed upstream in
    // boostorg/beast#2861) when it is given the last chunk again with fewer
    // than 5 bytes: the line of a first chunk of size 0 ("0\r\n", "00\r\n",
    // "0x\r\n") without its trailer's end. It would answer need_more (no
    // trailer end yet, its extensions are checked once that arrived): say so
    // without asking it.
    if (p.chunked() && !body_started_ && avail < 5 && buf_[pos_] == '0' &&
        std::string_view{buf_.data() + pos_, avail}.find("\r\n") !=
            std::string_view::npos) {
      compact();
      return read_status::need_more;
    }
    // A chunk-size line or a trailer must end within max_header_size bytes:
    // show Beast no more than that (it only waits at such a line; chunk data
    // it takes as it comes), so that it decides on the same bytes however
    // they arrived.
    auto view = p.chunked() ? std::min(avail, header_limit_) : avail;
    boost::system::error_code ec;
    auto consumed =
        p.put(boost::asio::const_buffer{buf_.data() + pos_, view}, ec);
    pos_ += consumed;
    body_started_ = body_started_ || consumed > 0;
    if (ec == beast_http::error::need_more) {
      if (view == header_limit_)
        return fail(400, "bad_request", "malformed chunked body");
      compact();
      return read_status::need_more;
    }
    if (ec)
      return fail(ec);
    if (consumed == 0 && !p.is_done()) {
      // No progress without an error: wait for more bytes.
      compact();
      return read_status::need_more;
    }
  }
}

std::optional<read_status> request_reader::start_request() {
  // RFC 7230 3.5: ignore empty lines before a request-line (some clients
  // send a CRLF after a POST body).
  while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n'))
    ++pos_;
  if (pos_ == buf_.size()) {
    compact();
    return read_status::need_more;
  }
  // A request starts with a method (a token): rejecting anything else at
  // once spares waiting for the header end of binary garbage (e.g. a TLS
  // ClientHello) that never comes.
  if (!detail::is_tchar(buf_[pos_]))
    return fail(400, "bad_request", "malformed request");
  msg_start_ = pos_;
  // Beast checks a header line only in its first call or once the end of
  // the header arrived, and applies its limit to the request line and to
  // the fields apart. So Beast always gets the header as if it came in one
  // piece: from its first byte and no more than max_header_size bytes. A
  // header that arrives in one read (the common case) is parsed once, as it
  // always was; while one is incomplete, each arrival is checked first
  // (still_incomplete), and only a header that may be finished or refused
  // is parsed for real.
  auto view = std::min(buf_.size() - msg_start_, header_limit_);
  if (header_pending_ && still_incomplete(view))
    return header_incomplete(view);
  boost::asio::const_buffer bytes{buf_.data() + msg_start_, view};
  boost::system::error_code ec;
  parser_.emplace();
  configure(*parser_);
  parser_->on_chunk_header(chunk_budget_);
  auto consumed = parser_->put(bytes, ec);
  if (ec == beast_http::error::need_more) {
    parser_.reset();
    if (!header_pending_) {
      header_pending_ = true;
      check_.reset();
    }
    return header_incomplete(view);
  }
  if (ec)
    return fail(ec);
  // With eager(false) Beast stops right after the header.
  header_pending_ = false;
  check_.reset();
  body_started_ = false;
  pos_ = msg_start_ + consumed;
  auto& p = *parser_;
  auto& msg = p.get();
  if (msg.target().size() > max_uri_size_)
    return fail(414, "uri_too_long", "request target too long");
  if (!only_chunked(msg))
    return fail(501, "not_implemented",
                "transfer codings other than chunked are not supported");
  if (p.chunked()) {
    // Beast 1.74 takes a chunk's size off its body limit before it parses
    // the chunk's extensions, so a chunk line it is asked about again (an
    // unterminated quoted extension waiting for more bytes) counts once per
    // call: in pieces a body got 413 that whole did not. Count each chunk
    // once, when Beast accepted its line (chunk_budget).
    p.body_limit(boost::none);
    chunk_budget_left_ = max_body_size_;
  }
  // Only send 100 Continue while the client may still be waiting for it:
  // once body bytes arrived it is sending anyway (RFC 7231 5.1.1).
  if (!p.is_done() && pos_ == buf_.size() && msg.version() >= 11 &&
      boost::beast::iequals(msg[beast_http::field::expect], "100-continue")) {
    compact();
    return read_status::send_continue;
  }
  return std::nullopt;
}

bool request_reader::still_incomplete(size_t view) {
  // Whether Beast, given the first `view` bytes of the header in one piece,
  // would answer need_more, in time linear in the new bytes and the last
  // (incomplete) line: re-parsing the whole header at each arrival would let
  // a client that sends it a byte at a time cost a full parse per byte.
  //
  // check_ takes the complete lines as they arrive, each with the byte after
  // it (Beast needs that byte to know the line is not folded). It stops
  // right after that byte, before the next field: a parser left with fewer
  // than 3 unconsumed bytes goes on parsing when given more (with 3 or
  // more it would only look for the header's end from then on). Beast's
  // answer on what follows (one incomplete field, whose checks need no
  // earlier field) comes from a parser that saw only a request line before
  // it. Anything but need_more from either: parse the whole for real.
  using boost::asio::const_buffer;
  auto header = buf_.data() + msg_start_;
  if (!check_) {
    check_ = std::make_unique<header_check>();
    configure(*check_);
    check_fed_ = 0;
    check_consumed_ = 0;
    checked_view_ = 0;
    rest_part_ = rest_part::unknown;
  }
  if (check_fed_ == std::numeric_limits<size_t>::max())
    return false; // check_ could not keep up: parse the whole each time
  // The end of the last line in view that is followed by a byte which does
  // not fold it into the next one, plus that byte (only new bytes can make
  // one).
  size_t feed = 0;
  auto seen = std::max<size_t>({check_fed_, checked_view_, 2});
  for (auto i = view; i > seen; --i) {
    auto next = header[i - 1];
    if (header[i - 3] == '\r' && header[i - 2] == '\n' && next != ' ' &&
        next != '\t') {
      feed = i;
      break;
    }
  }
  boost::system::error_code ec;
  if (feed > check_fed_) {
    check_consumed_ += check_->put(
        const_buffer{header + check_consumed_, feed - check_consumed_}, ec);
    check_fed_ = feed;
    if (ec != beast_http::error::need_more || check_->is_header_done() ||
        check_fed_ - check_consumed_ >= 3) {
      // Finished, refused, or (not expected) a line Beast did not end where
      // we did: no more of check_ for this header.
      check_fed_ = std::numeric_limits<size_t>::max();
      return false;
    }
  } else if (checked_view_ > 0 && header[checked_view_ - 1] != '\r' &&
             header[checked_view_ - 1] != '\n' &&
             safe_for_rest(header + checked_view_, view - checked_view_)) {
    // Bytes that leave Beast's answer on the incomplete rest as it was
    // (not after a line end: what follows it may fold the line or end the
    // header).
    checked_view_ = view;
    return true;
  }
  header_check rest;
  configure(rest);
  if (check_consumed_ > 0) {
    // In the state check_ is in: after a request line.
    constexpr std::string_view line = "GET / HTTP/1.1\r\n";
    rest.put(const_buffer{line.data(), line.size()}, ec);
  }
  rest.put(const_buffer{header + check_consumed_, view - check_consumed_}, ec);
  if (ec != beast_http::error::need_more || rest.is_header_done())
    return false;
  // Where the rest ends: in a request line's method or target, or in a
  // field's name or value.
  std::string_view tail{header + check_consumed_, view - check_consumed_};
  if (check_consumed_ == 0) {
    auto spaces = std::count(tail.begin(), tail.end(), ' ');
    rest_part_ = spaces == 0   ? rest_part::method
                 : spaces == 1 ? rest_part::target
                               : rest_part::unknown;
  } else if (tail.size() < 2 || tail[0] == '\r') {
    // Beast looks at a field only once it has two bytes of it.
    rest_part_ = rest_part::unknown;
  } else {
    rest_part_ = tail.find(':') == std::string_view::npos ? rest_part::name
                                                          : rest_part::value;
  }
  checked_view_ = view;
  return true;
}

bool request_reader::safe_for_rest(const char* first, size_t size) const {
  // Conservative classes: a byte outside them only costs a check.
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  std::string_view target_chars = "/-._~?%&=+";
  for (auto c : std::string_view{first, size}) {
    bool safe = false;
    switch (rest_part_) {
    case rest_part::unknown:
      break;
    case rest_part::method:
      safe = c >= 'A' && c <= 'Z';
      break;
    case rest_part::target:
      safe = alnum(c) || target_chars.find(c) != std::string_view::npos;
      break;
    case rest_part::name:
      safe = alnum(c) || c == '-';
      break;
    case rest_part::value:
      safe = (c >= 0x20 && c < 0x7f) || c == '\t';
      break;
    }
    if (!safe)
      return false;
  }
  return true;
}

read_status request_reader::header_incomplete(size_t view) {
  // Beast waits for more: a header that has not ended within the first
  // max_header_size bytes is too large, however it arrived.
  if (view == header_limit_)
    return fail_header_too_large();
  compact();
  return read_status::need_more;
}

void request_reader::chunk_budget::operator()(uint64_t size,
                                              boost::beast::string_view,
                                              boost::system::error_code& ec) {
  if (size > self->chunk_budget_left_) {
    ec = beast_http::error::body_limit;
    return;
  }
  self->chunk_budget_left_ -= size;
}

template <class Parser>
void request_reader::configure(Parser& p) const {
  p.eager(false);
  p.header_limit(static_cast<uint32_t>(header_limit_));
  p.body_limit(static_cast<uint64_t>(max_body_size_));
}

request request_reader::take() {
  request result;
  auto& p = *parser_;
  result.keep_alive = p.keep_alive();
  result.has_length = p.content_length().has_value() || p.chunked();
  result.msg = p.release();
  if (result.msg.method() == beast_http::verb::head) {
    result.msg.method(beast_http::verb::get);
    result.is_head = true;
  }
  parser_.reset();
  return result;
}

read_status request_reader::fail(unsigned status, std::string_view code,
                                 std::string_view message) {
  failed_ = true;
  error_ = read_error{status, code, message};
  parser_.reset();
  buf_.clear();
  buf_.shrink_to_fit();
  pos_ = 0;
  return read_status::failed;
}

read_status request_reader::fail(const boost::system::error_code& ec) {
  if (ec == beast_http::error::header_limit)
    return fail_header_too_large();
  if (ec == beast_http::error::body_limit ||
      ec == beast_http::error::buffer_overflow)
    return fail(413, "body_too_large", "request body too large");
  return fail(400, "bad_request", "malformed request");
}

read_status request_reader::fail_header_too_large() {
  if (request_line_length() > max_uri_size_)
    return fail(414, "uri_too_long", "request line too long");
  return fail(431, "headers_too_large", "request header too large");
}

void request_reader::compact() {
  // Until its header is parsed, a request starts at pos_: its bytes stay.
  if (pos_ == 0)
    return;
  if (pos_ == buf_.size())
    buf_.clear();
  else
    buf_.erase(0, pos_);
  msg_start_ -= std::min(msg_start_, pos_);
  pos_ = 0;
}

size_t request_reader::request_line_length() const noexcept {
  // Within the bytes Beast was shown, so that the answer does not depend on
  // how many more had arrived.
  auto first = buf_.data() + msg_start_;
  auto last = first + std::min(buf_.size() - msg_start_, header_limit_);
  auto eol = std::find(first, last, '\n');
  if (eol != last && eol != first && eol[-1] == '\r')
    --eol;
  return static_cast<size_t>(eol - first);
}

} // namespace cartd::http
