#pragma once

// Renders responses into bytes. Appends into a caller-owned std::string so the
// server can reuse one buffer for every response.

#include <string>
#include <string_view>

#include "bindings/http/http.hpp"

namespace cartd::http {

/// How a response is framed on its connection.
struct render_options {
  /// Omit the body (the request was HEAD). Content-Length still tells the
  /// length of the body a GET would get.
  bool head = false;
  /// Add `Connection: close`: the server closes after this response.
  bool close = false;
  /// Add `Connection: keep-alive` (an HTTP/1.0 client asked to keep the
  /// connection open). Ignored when `close` is set.
  bool keep_alive = false;
  /// Added as `X-Request-Id` unless empty.
  std::string_view request_id;
  /// Added as `Date` unless empty (an IMF-fixdate: http_date.hpp).
  std::string_view date;
};

/// Whether responses with `status` carry no body, Content-Type or
/// Content-Length (1xx, 204, 304).
bool status_without_body(unsigned status) noexcept;

/// The reason phrase for `status`, e.g. "Not Found"; empty when unknown.
std::string_view reason_phrase(unsigned status) noexcept;

/// Appends the status line and the header block of `res`, including the
/// empty line that ends it, to `out`. A status outside 100..999 renders as
/// 500. Extra headers with invalid names or values, or that would clash with
/// the server's framing (Content-Length, Transfer-Encoding, Connection), are
/// dropped, and so is a `Date` of their own when `opts.date` is set.
void render_head(std::string& out, const response& res, render_options opts);

/// Appends the whole response (`render_head` plus, unless `opts.head` or the
/// status has no body, the body) to `out`.
void render(std::string& out, const response& res, render_options opts);

} // namespace cartd::http
