#include "bindings/http/render.hpp"

#include <charconv>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include "bindings/http/detail/token.hpp"

namespace cartd::http {

namespace {

void append_size(std::string& out, size_t value) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, res.ptr);
}

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
  out += "HTTP/1.1 ";
  append_size(out, status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  if (!opts.date.empty()) {
    out += "Date: ";
    out += opts.date;
    out += "\r\n";
  }
  if (!status_without_body(status)) {
    if (!res.content_type.empty() && is_field_value(res.content_type)) {
      out += "Content-Type: ";
      out += res.content_type;
      out += "\r\n";
    }
    out += "Content-Length: ";
    append_size(out, res.body.size());
    out += "\r\n";
  }
  for (auto& [name, value] : res.headers) {
    if (!is_token(name) || !is_field_value(value) || is_framing_field(name))
      continue;
    if (!opts.date.empty() &&
        boost::beast::iequals({name.data(), name.size()}, "date"))
      continue; // the server's own
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!opts.request_id.empty()) {
    out += "X-Request-Id: ";
    out += opts.request_id;
    out += "\r\n";
  }
  if (opts.close)
    out += "Connection: close\r\n";
  else if (opts.keep_alive)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
}

void render(std::string& out, const response& res, render_options opts) {
  render_head(out, res, opts);
  if (!opts.head && !status_without_body(res.status))
    out += res.body;
}

} // namespace cartd::http
