#pragma once

// The generic HTTP/1.1 server's contract with whoever serves routes.
//
// The server (a CAF io::broker, see server.hpp) owns sockets, parsing with
// Boost.Beast's request_parser, limits, keep-alive, pipelining order,
// 100-continue, HEAD, timeouts and draining. For every complete request it
// calls `handler::handle` inside the broker; the handler answers exactly once
// through the `responder`, now or later (after an actor replied).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <caf/fwd.hpp>
#include <caf/io/fwd.hpp>
#include <caf/message_handler.hpp>
#include <caf/timespan.hpp>

namespace cartd::http {

/// A parsed request as Beast delivers it. A HEAD request reaches the handler
/// as GET (`is_head` tells); the server drops the body from the response.
struct request {
  boost::beast::http::request<boost::beast::http::string_body> msg;
  /// The request was HEAD (msg.method() was rewritten to GET).
  bool is_head = false;
  /// The request carried Content-Length or Transfer-Encoding: chunked.
  bool has_length = false;
  /// The client wants the connection kept open after the response (HTTP/1.1
  /// without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
  bool keep_alive = true;
  /// The request's id: its X-Request-Id when that is valid (1..128 visible
  /// ASCII characters), else one the server generated. The server returns it
  /// as X-Request-Id in the response; handlers pass it on (to the owner node
  /// of a cart, into log lines about the request).
  std::string request_id;

  /// The target's path, without the query string; for a target in absolute
  /// form (`http://host:port/path`) the path after the authority ("/" if it
  /// has none).
  std::string_view path() const noexcept;
};

/// A response. The server adds Content-Length, Connection and the status line
/// (and drops extra headers that would clash with its framing:
/// Content-Length, Transfer-Encoding, Connection). Statuses 1xx, 204 and 304
/// go out without a body, Content-Type or Content-Length.
struct response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  /// Extra header fields, e.g. {"ETag", "\"3\""} or {"Allow", "GET, HEAD"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Answers a request exactly once; calling it after the connection closed, or
/// a second time, is harmless (a no-op). Must be called inside the server
/// broker (e.g. from a `then` of a request the handler made through `self`),
/// never from another actor or thread.
using responder = std::function<void(response)>;

/// Serves routes. Lives inside the server broker and is only ever called from
/// it, so it needs no locks; it must never block.
class handler {
public:
  virtual ~handler();

  /// Handles one complete request. `self` is the server broker: use it to
  /// `request(...).then(...)` actors and call `reply` from the continuation.
  /// Returns the template of the route that took the request (e.g.
  /// "/carts/{cart}/items"), a string that lives as long as the handler, or
  /// an empty one when no route matched (404, 405): metrics and the access
  /// log label requests with it, never with the raw path.
  ///
  /// Rules, because everything runs on the one I/O thread inside the broker:
  /// - capture `reply` (and anything taken from `req`) by value in
  ///   continuations; `self` may be captured as a raw pointer, continuations
  ///   only ever run inside the broker;
  /// - always pass an error callback to `then` and answer from it too; a
  ///   request not answered within `server_config::request_timeout` gets
  ///   `timeout_response()` from the server's sweep (a later answer is a
  ///   no-op), so requests to actors need no CAF timeout of their own (each
  ///   one would wake CAF's clock thread twice);
  /// - an exception thrown from `handle` itself is caught and answered with
  ///   500 `internal_error`; one thrown from a continuation kills the broker
  ///   and every connection with it, so continuations must not throw;
  /// - if the connection closes while the request is pending, calling `reply`
  ///   later is a no-op.
  virtual std::string_view handle(caf::io::broker* self, request&& req,
                                  responder reply) = 0;

  /// Whether the service behind the handler is ready (GET /ready).
  virtual bool ready() const { return true; }

  /// The name of the first readiness check that fails (e.g. "journal"),
  /// which GET /ready's 503 names, or an empty string when ready. By
  /// default "service" while `ready()` is false.
  virtual std::string failing_check() const;

  /// The answer to a request still unanswered after the request timeout.
  virtual response timeout_response() const;

  /// Messages other than HTTP traffic that the handler handles inside the
  /// server broker (e.g. changes actors push to it). The same rules as for
  /// continuations apply. Empty by default; anything unmatched is dropped.
  virtual caf::message_handler messages(caf::io::broker* self);

  /// An actor the handler monitored (`self->monitor(x)`) ended. The same
  /// rules as for continuations apply. Ignores it by default.
  virtual void on_down(caf::io::broker* self, const caf::down_msg& dm);
};

/// GET /ready's 503: `{"error":"not_ready","check":CHECK,"message":...}`,
/// naming the readiness check that failed (e.g. "journal", "draining").
response not_ready_response(std::string_view check);

/// What the server knows of one answered request, for metrics and the
/// access log. Views into the server's state: valid only during the call.
struct exchange {
  /// The request's method as sent (HEAD stays HEAD); `unknown` when the
  /// server answered before the request line was parsed (e.g. a 400).
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  /// The route template (`handler::handle`'s result), "/health" or "/ready"
  /// for the server's own routes, "" when no route took the request (404,
  /// 405, or an error answered before routing).
  std::string_view route;
  /// The request target's path (no query string); "" when not parsed.
  std::string_view path;
  /// The request's id ("" when answered before routing).
  std::string_view request_id;
  unsigned status = 0;
  /// Bytes of the response body (as for a GET also when it was HEAD).
  size_t body_bytes = 0;
  /// When the request was complete (handed to the handler), and when its
  /// response was written.
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point finished;
};

/// Watches the server's traffic (metrics, access log). Called inside the
/// server broker, on the I/O thread: must be cheap and never block.
class exchange_observer {
public:
  virtual ~exchange_observer();

  /// A response was written (every one: the handler's and the server's own,
  /// 408/413/431/503 ones included; not 100 Continue).
  virtual void on_exchange(const exchange& ex) = 0;

  /// The number of open connections changed to `open`.
  virtual void on_connections(size_t open);
};

/// Limits, timeouts and switches, each a config option (see bindings/cartd,
/// which takes its defaults from here).
struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  /// Request line + headers (431 beyond).
  size_t max_header_size = 8 * 1024;
  /// Request body (413 beyond).
  size_t max_body_size = 64 * 1024;
  /// Request target (414 beyond).
  size_t max_uri_size = 2 * 1024;
  /// Open connections (beyond: a 503 and close).
  size_t max_connections = 10'000;
  /// An idle connection, or one whose request has not fully arrived within
  /// this time, is closed.
  caf::timespan idle_timeout = caf::timespan{std::chrono::seconds{30}};
  /// A request the handler has not answered within this time gets the
  /// handler's timeout_response (checked by a periodic sweep: up to a
  /// quarter of it later, at most 1 s).
  caf::timespan request_timeout = caf::timespan{std::chrono::seconds{5}};
  /// On drain, how long in-flight requests may take before connections are
  /// closed anyway.
  caf::timespan drain_timeout = caf::timespan{std::chrono::seconds{3}};
  /// Write responses straight to the socket while CAF holds nothing for the
  /// connection (socket_writes.hpp); false: always through CAF's write
  /// buffer.
  bool direct_writes = true;
  /// When set, the bound port is written to this file once listening
  /// (tests start nodes with port 0).
  std::string port_file;
  /// Told of every response and of the number of open connections.
  std::vector<std::shared_ptr<exchange_observer>> observers;
};

/// Renders a JSON error body `{"error":code,"message":message}`.
response error_response(unsigned status, std::string_view code,
                        std::string_view message);

} // namespace cartd::http
