#pragma once

// The access log: one line per response the server writes (method, route
// template, path, status, body bytes, duration, node, request id).
//
// Off the hot path: the server's broker (on_exchange) only copies the
// exchange's fields into a compact record and hands it to a line_writer;
// the writer's thread renders the records of a run into lines and writes
// them. Rendering on the broker cost about 3 % of a GET's CPU in issue 14's
// bench (bench/run.py --phases ab --ab-mode concurrent), the copy and the
// output as much again.

#include <cstdint>
#include <memory>
#include <string>

#include "bindings/http/http.hpp"
#include "runtime/core/line_writer.hpp"
#include "runtime/core/log.hpp"

namespace cartd::http {

/// How an access line looks (the format and the node it names).
///
/// JSON (log_format::json), one object per line:
///   {"ts":"2026-11-28T01:40:09.123Z","level":"info","logger":"access",
///    "msg":"GET /carts/c1 200","method":"GET","route":"/carts/{cart}",
///    "path":"/carts/c1","status":200,"bytes":85,"duration_ms":0.412,
///    "node":"n1","request_id":"5f0c9a1e0d3b7a22-1"}
/// Text: "2026-11-28T01:40:09.123Z info access GET /carts/c1 200
///   route=/carts/{cart} bytes=85 duration_ms=0.412 node=n1 request_id=..."
/// A method the server never parsed is "-"; route is "" when no route took
/// the request (404, 405, the server's own 4xx/5xx).
struct access_line_format {
  log_format format = log_format::text;
  std::string node;

  /// Renders the line for `ex` (its response written at `at`) into `out`.
  void render(const exchange& ex, std::chrono::system_clock::time_point at,
              std::string& out) const;

  /// The same line written into `buf` (at most `size` bytes) when every
  /// value goes in as it is (no escaping, no quotes) and it fits: its
  /// length, else 0 (then render() writes it). A few fixed-size copies
  /// instead of a string append per piece.
  size_t render_plain(const exchange& ex,
                      std::chrono::system_clock::time_point at, char* buf,
                      size_t size) const;
};

/// An exchange_observer that writes an access line per exchange.
class access_log : public exchange_observer {
public:
  /// Lines go to `out` (on the writer's thread, a run of whole lines at a
  /// time) through a line_writer with `settings`.
  access_log(log_format format, std::string node, line_writer::output out,
             line_writer::settings settings = {});

  /// Copies the exchange into a record for the writer's thread. A line's
  /// time is when its response was written (ex.finished).
  void on_exchange(const exchange& ex) override;

  /// Records the writer dropped (its buffer was full).
  uint64_t dropped() const noexcept { return out_->dropped(); }

  const access_line_format& lines() const noexcept { return lines_; }

private:
  access_line_format lines_;
  std::shared_ptr<line_writer> out_;
};

} // namespace cartd::http
