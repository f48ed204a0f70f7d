#pragma once

// The access log: one line per response the server writes (method, route
// template, path, status, body bytes, duration, node, request id), handed to
// a line_writer so that the server's broker never waits for the output.

#include <cstdint>
#include <memory>
#include <string>

#include "bindings/http/http.hpp"
#include "runtime/core/line_writer.hpp"
#include "runtime/core/log.hpp"

namespace cartd::http {

/// An exchange_observer that writes an access line per exchange.
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
class access_log : public exchange_observer {
public:
  access_log(log_format format, std::string node,
             std::shared_ptr<line_writer> out);

  void on_exchange(const exchange& ex) override;

  /// Lines the writer dropped (its buffer was full).
  uint64_t dropped() const noexcept { return out_->dropped(); }

  /// Renders the line for `ex` (finished at `now`) into `out`.
  void render(const exchange& ex, std::chrono::system_clock::time_point now,
              std::string& out) const;

private:
  log_format format_;
  std::string node_;
  std::shared_ptr<line_writer> out_;
};

} // namespace cartd::http
