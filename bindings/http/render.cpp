#include "bindings/http/render.hpp"

#include <charconv>
#include <cstring>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include "bindings/http/detail/token.hpp"

namespace cartd::http {

namespace {

/// Writes a response head into `out` with one resize for the whole head
/// instead of a length check (and a possible reallocation) per append: the
/// head is a few dozen short pieces, and appending them one by one was a
/// sixth of the instructions of serving a cached GET (callgrind). The caller
/// estimates the head's size (a wrong estimate only costs a resize);
/// `finish` trims to what was written.
class head_writer {
public:
  head_writer(std::string& out, size_t estimate) : out_(out), pos_(out.size()) {
    out_.resize(pos_ + estimate);
  }

  template <size_t N>
  void put(const char (&literal)[N]) {
    put(std::string_view{literal, N - 1});
  }

  void put(std::string_view str) {
    if (str.empty())
      return; // an empty view's data() may be null: no memcpy from it
    std::memcpy(reserve(str.size()), str.data(), str.size());
    pos_ += str.size();
  }

  void put(char c) {
    *reserve(1) = c;
    ++pos_;
  }

  void put_size(size_t value) {
    auto first = reserve(20); // the digits of 2^64 - 1
    pos_ += static_cast<size_t>(std::to_chars(first, first + 20, value).ptr -
                                first);
  }

  void finish() { out_.resize(pos_); }

private:
  /// Where the next `n` bytes go, growing `out_` if they do not fit.
  char* reserve(size_t n) {
    if (out_.size() - pos_ < n)
      out_.resize(pos_ + n + 64);
    return out_.data() + pos_;
  }

  std::string& out_;
  size_t pos_;
};

bool is_token(std::string_view str) noexcept {
  if (str.empty())
    return false;
  for (auto c : str)
    if (!detail::is_tchar(c))
      return false;
  return true;
}

// A value must not end the header line early (response splitting).
bool is_field_value(std::string_view str) noexcept {
  for (auto c : str)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

bool is_framing_field(std::string_view name) noexcept {
  auto eq = [name](std::string_view lower) {
    return boost::beast::iequals({name.data(), name.size()},
                                 {lower.data(), lower.size()});
  };
  return eq("content-length") || eq("connection") || eq("transfer-encoding");
}

} // namespace

bool status_without_body(unsigned status) noexcept {
  return status < 200 || status == 204 || status == 304;
}

std::string_view reason_phrase(unsigned status) noexcept {
  namespace bh = boost::beast::http;
  auto code = bh::int_to_status(status);
  if (code == bh::status::unknown)
    return {};
  auto str = bh::obsolete_reason(code);
  return {str.data(), str.size()};
}

void render_head(std::string& out, const response& res, render_options opts) {
  auto status = res.status;
  if (status < 100 || status > 999)
    status = 500;
  auto reason = reason_phrase(status);
  auto with_body = !status_without_body(status);
  auto with_type = with_body && !res.content_type.empty() &&
                   is_field_value(res.content_type);
  // What the pieces below take at most: the fixed text and Content-Length's
  // digits (128), and the variable parts (extra headers counted whole, even
  // those dropped).
  auto estimate = 128 + reason.size() + opts.date.size() +
                  opts.request_id.size() + res.content_type.size();
  for (auto& [name, value] : res.headers)
    estimate += name.size() + value.size() + 4;
  head_writer w{out, estimate};
  w.put("HTTP/1.1 ");
  w.put_size(status);
  w.put(' ');
  w.put(reason);
  w.put("\r\n");
  if (!opts.date.empty()) {
    w.put("Date: ");
    w.put(opts.date);
    w.put("\r\n");
  }
  if (with_body) {
    if (with_type) {
      w.put("Content-Type: ");
      w.put(res.content_type);
      w.put("\r\n");
    }
    w.put("Content-Length: ");
    w.put_size(res.body.size());
    w.put("\r\n");
  }
  for (auto& [name, value] : res.headers) {
    if (!is_token(name) || !is_field_value(value) || is_framing_field(name))
      continue;
    if (!opts.date.empty() &&
        boost::beast::iequals({name.data(), name.size()}, "date"))
      continue; // the server's own
    w.put(name);
    w.put(": ");
    w.put(value);
    w.put("\r\n");
  }
  if (!opts.request_id.empty()) {
    w.put("X-Request-Id: ");
    w.put(opts.request_id);
    w.put("\r\n");
  }
  if (opts.close)
    w.put("Connection: close\r\n");
  else if (opts.keep_alive)
    w.put("Connection: keep-alive\r\n");
  w.put("\r\n");
  w.finish();
}

void render(std::string& out, const response& res, render_options opts) {
  render_head(out, res, opts);
  if (!opts.head && !status_without_body(res.status))
    out += res.body;
}

} // namespace cartd::http
