#include "bindings/http/request_reader.hpp"

#include <algorithm>
#include <limits>

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

request_reader::request_reader(const server_config& cfg)
    : max_header_size_(cfg.max_header_size), max_body_size_(cfg.max_body_size),
      max_uri_size_(cfg.max_uri_size) {
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
    if (!parser_) {
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
      parser_.emplace();
      parser_->eager(false);
      parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(
          max_header_size_, std::numeric_limits<uint32_t>::max())));
      parser_->body_limit(static_cast<uint64_t>(max_body_size_));
    }
    auto& p = *parser_;
    if (p.is_done())
      return read_status::complete;
    auto avail = buf_.size() - pos_;
    if (avail == 0) {
      compact();
      return read_status::need_more;
    }
    auto header_was_done = p.is_header_done();
    boost::system::error_code ec;
    auto consumed =
        p.put(boost::asio::const_buffer{buf_.data() + pos_, avail}, ec);
    pos_ += consumed;
    if (ec == beast_http::error::need_more) {
      if (!p.is_header_done()) {
        // Beast applies header_limit to the request line and to the fields
        // separately, depending on how the bytes arrived. Count the whole
        // header ourselves so every fragmentation gets the same answer.
        if (buf_.size() - msg_start_ > max_header_size_)
          return fail_header_too_large();
      } else if (buffered() > max_header_size_) {
        // After the header Beast consumes body bytes as they come, so only a
        // chunk-size line or a trailer can pile up here: bound those too.
        return fail(400, "bad_request", "malformed chunked body");
      }
      compact();
      return read_status::need_more;
    }
    if (ec)
      return fail(ec);
    if (!header_was_done && p.is_header_done()) {
      // With eager(false) Beast stops right after the header.
      if (pos_ - msg_start_ > max_header_size_)
        return fail_header_too_large();
      auto& msg = p.get();
      if (msg.target().size() > max_uri_size_)
        return fail(414, "uri_too_long", "request target too long");
      if (!only_chunked(msg))
        return fail(501, "not_implemented",
                    "transfer codings other than chunked are not supported");
      // Only send 100 Continue while the client may still be waiting for it:
      // once body bytes arrived it is sending anyway (RFC 7231 5.1.1).
      if (!p.is_done() && pos_ == buf_.size() && msg.version() >= 11 &&
          boost::beast::iequals(msg[beast_http::field::expect],
                                "100-continue")) {
        compact();
        return read_status::send_continue;
      }
    } else if (consumed == 0 && !p.is_done()) {
      // No progress without an error: wait for more bytes.
      compact();
      return read_status::need_more;
    }
  }
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
  // Keep the header of the current request (Beast may have consumed its
  // request line already) for request_line_length().
  auto keep_from = parser_ && !parser_->is_header_done() ? msg_start_ : pos_;
  if (keep_from == 0)
    return;
  if (keep_from == buf_.size())
    buf_.clear();
  else
    buf_.erase(0, keep_from);
  pos_ -= keep_from;
  msg_start_ -= std::min(msg_start_, keep_from);
}

size_t request_reader::request_line_length() const noexcept {
  auto first = buf_.data() + msg_start_;
  auto last = buf_.data() + buf_.size();
  auto eol = std::find(first, last, '\n');
  if (eol != last && eol != first && eol[-1] == '\r')
    --eol;
  return static_cast<size_t>(eol - first);
}

} // namespace cartd::http
