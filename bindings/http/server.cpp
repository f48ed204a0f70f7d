#include "bindings/http/server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/beast/core/string.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/doorman.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>

#include "bindings/http/conditional.hpp"
#include "bindings/http/connection_abort.hpp"
#include "bindings/http/http_date.hpp"
#include "bindings/http/paced_acceptor.hpp"
#include "bindings/http/render.hpp"
#include "bindings/http/request_ids.hpp"
#include "bindings/http/request_reader.hpp"
#include "bindings/http/socket_writes.hpp"
#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"

namespace cartd::http {

namespace {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

using tick_atom = caf::atom_constant<caf::atom("http_tick")>;
using drain_atom = caf::atom_constant<caf::atom("http_drain")>;
using accept_resume_atom = caf::atom_constant<caf::atom("http_accr")>;

/// Bytes per read from a socket (also the scribe's receive buffer size). CAF
/// zero-fills the whole buffer before every read, so large buffers cost
/// measurably per request (8 KiB: about 15% of a GET); 1 KiB holds a
/// typical request, larger ones take several reads.
constexpr size_t read_size = 1024;

/// Response bytes queued behind the socket's current write beyond which the
/// server stops serving a connection until the client reads (a client that
/// pipelines without reading must not make the server buffer without bound).
constexpr size_t max_pending_output = 64 * 1024;

/// How long the acceptor pauses after an accept failed for lack of
/// descriptors (paced_acceptor.hpp) before it tries again.
constexpr auto accept_pause = std::chrono::milliseconds{100};

/// While accepts keep failing, at most one log line per interval.
constexpr auto accept_log_interval = std::chrono::seconds{10};

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// -- state --------------------------------------------------------------------

struct connection {
  explicit connection(const server_config& cfg, time_point now)
      : reader(cfg), last_activity(now) {
    // nop
  }

  request_reader reader;
  /// Serial of the request in flight, 0 when none. Serials are unique per
  /// server, so a stale responder never matches a later request, even when
  /// the OS reuses the socket (and thus the handle) for a new connection.
  uint64_t in_flight = 0;
  /// Framing of the in-flight request's response.
  bool is_head = false;
  bool keep_alive = true;
  bool http10 = false;
  /// `handler::handle` is on the stack for this connection: a responder
  /// called now only writes; `dispatch` continues afterwards.
  bool dispatching = false;
  /// Close once the in-flight response is written.
  bool must_close = false;
  /// Reading is suspended (the client pipelined far ahead).
  bool halted = false;
  /// Closed by the server while CAF still held response bytes for it: it
  /// stays here (and counts against max_connections) until they are
  /// written, or is aborted once the client took nothing for idle_timeout.
  bool closing = false;
  /// The connection's socket (for aborting it), -1 when unknown.
  int fd = -1;
  /// The direct write path (socket_writes.hpp).
  direct_writes out;
  /// Too many response bytes wait for the client to read them: no request
  /// is dispatched until the socket drains (data_transferred_msg).
  bool write_blocked = false;
  /// Last received bytes, written response or bytes CAF wrote for it.
  time_point last_activity;
  /// When the in-flight request was handed to the handler.
  time_point dispatched_at;
  /// When the first byte of the incomplete request at the head of the
  /// buffer was seen (`time_point{}`: none).
  time_point partial_since{};
  // -- the in-flight request, for the observers and X-Request-Id --------------
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  /// The route template (`handler::handle`'s result).
  std::string_view route;
  std::string path;
  std::string request_id;
  /// The If-None-Match lines of a GET or HEAD, joined by commas ("" when
  /// none): its 2xx answer with a matching ETag goes out as 304.
  std::string if_none_match;
  /// Answered while `handle` was still on the stack (the route was not
  /// known yet): `dispatch` tells the observers once it is.
  bool answered_in_handle = false;
  unsigned answered_status = 0;
  size_t answered_bytes = 0;
};

struct server_state {
  server_config cfg;
  std::shared_ptr<handler> h;
  caf::io::accept_handle acceptor;
  uint16_t port = 0;
  std::unordered_map<caf::io::connection_handle, connection> conns;
  uint64_t last_serial = 0;
  size_t in_flight = 0;
  /// Connections with `closing` set.
  size_t closing = 0;
  bool draining = false;
  /// quit() was called (the drain may end from several places).
  bool stopped = false;
  /// Accepts that failed for lack of descriptors since the last accepted
  /// connection, and since the last log line about it.
  size_t accept_failures = 0;
  size_t accept_failures_unlogged = 0;
  time_point accept_logged_at{};
  caf::error drain_reason;
  /// Reused for rendering every response head.
  std::string out;
  /// The Date header's value, formatted at most once a second.
  date_clock date;
  /// Makes X-Request-Id for requests without a valid one.
  request_id_source ids;
  /// Scratch id for responses the server sends before routing.
  std::string scratch_id;
  /// Reused by the idle tick.
  std::vector<caf::io::connection_handle> expired;
  std::vector<caf::io::connection_handle> timed_out;
  std::vector<caf::io::connection_handle> aborted;
  std::vector<std::pair<caf::io::connection_handle, uint64_t>> overdue;

  static const char* name;
};

const char* server_state::name = "http_server";

using server_actor = caf::io::stateful_broker<server_state>;
using caf::io::connection_handle;

// -- helpers ------------------------------------------------------------------

void process(server_actor* self, connection_handle hdl, connection& c);

/// Tells every observer of a written response.
void observe(server_actor* self, const exchange& ex) {
  for (auto& obs : self->state.cfg.observers)
    obs->on_exchange(ex);
}

/// Tells every observer the number of open connections.
void observe_connections(server_actor* self) {
  auto& st = self->state;
  for (auto& obs : st.cfg.observers)
    obs->on_connections(st.conns.size());
}

/// Tells the observers of the response to `c`'s in-flight request.
void observe_answer(server_actor* self, const connection& c, unsigned status,
                    size_t body_bytes, time_point now) {
  if (self->state.cfg.observers.empty())
    return;
  exchange ex;
  ex.method = c.is_head ? boost::beast::http::verb::head : c.method;
  ex.route = c.route;
  ex.path = c.path;
  ex.request_id = c.request_id;
  ex.status = status;
  ex.body_bytes = body_bytes;
  ex.started = c.dispatched_at;
  ex.finished = now;
  observe(self, ex);
}

/// `c`: the connection's state, nullptr when it has none (yet).
void write_response(server_actor* self, connection_handle hdl, connection* c,
                    const response& res, render_options opts) {
  auto& out = self->state.out;
  out.clear();
  opts.date = self->state.date.now();
  render_head(out, res, opts);
  std::string_view body;
  if (!opts.head && !status_without_body(res.status))
    body = res.body;
  send_out(self, hdl, c != nullptr ? &c->out : nullptr, out, body);
}

void stop_server(server_actor* self) {
  auto& st = self->state;
  if (st.stopped)
    return;
  st.stopped = true;
  self->quit(st.drain_reason);
}

/// While draining, every connection left is one the server still answers
/// (a request in flight or half received) or is writing the last bytes to:
/// the server stops when none is left.
void maybe_finish_drain(server_actor* self) {
  auto& st = self->state;
  if (st.draining && st.conns.empty())
    stop_server(self);
}

/// Forgets the state of `hdl` (and its request in flight). Any reference
/// to its `connection` dangles afterwards.
void forget_connection(server_actor* self, connection_handle hdl) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end())
    return;
  if (i->second.in_flight != 0)
    --st.in_flight;
  if (i->second.closing)
    --st.closing;
  st.conns.erase(i);
  observe_connections(self);
  maybe_finish_drain(self);
}

/// Closes `hdl` at once, discarding unsent output, and forgets it.
void abort_and_forget(server_actor* self, connection_handle hdl) {
  auto& conns = self->state.conns;
  auto i = conns.find(hdl);
  abort_connection(self, hdl, i != conns.end() ? i->second.fd : -1);
  forget_connection(self, hdl);
}

/// Closes `hdl` once its pending bytes are sent, and forgets it then. CAF's
/// close would forget it at once but keep the socket until its bytes are
/// written, which for a client that does not read is never: while CAF
/// holds bytes for it, the connection stays in the table, `closing`.
void close_connection(server_actor* self, connection_handle hdl) {
  auto& conns = self->state.conns;
  auto i = conns.find(hdl);
  if (i != conns.end() && i->second.out.caf_writing) {
    auto& c = i->second;
    if (!c.closing) {
      c.closing = true;
      ++self->state.closing;
      if (!c.halted) {
        self->halt(hdl);
        c.halted = true;
      }
    }
    return;
  }
  self->close(hdl);
  forget_connection(self, hdl);
}

/// Closes an idle `hdl` whose client took nothing for idle_timeout: output
/// still waiting for it (in CAF or in the kernel) is discarded.
void expire_connection(server_actor* self, connection_handle hdl,
                       const connection& c) {
  if (c.out.caf_writing || unsent_bytes(c.fd) > 0)
    abort_and_forget(self, hdl);
  else
    close_connection(self, hdl);
}

/// Answers what the server refuses before routing (no request in flight),
/// with a fresh request id, and tells the observers.
void reply_and_close(server_actor* self, connection_handle hdl,
                     const response& res) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  st.ids.next(st.scratch_id);
  write_response(self, hdl, i != st.conns.end() ? &i->second : nullptr, res,
                 render_options{false, true, false, st.scratch_id, {}});
  if (!st.cfg.observers.empty()) {
    exchange ex;
    ex.request_id = st.scratch_id;
    ex.status = res.status;
    ex.body_bytes = res.body.size();
    ex.started = ex.finished = clock_type::now();
    observe(self, ex);
  }
  close_connection(self, hdl);
}

/// Suspends reading while the connection is busy (a request in flight or
/// output blocked) and too many bytes wait unparsed; resumes otherwise.
void update_reading(server_actor* self, connection_handle hdl, connection& c) {
  auto busy = c.in_flight != 0 || c.write_blocked;
  auto stop = busy && c.reader.buffered() >= self->state.cfg.max_header_size;
  if (stop && !c.halted) {
    self->halt(hdl);
    c.halted = true;
  } else if (!stop && c.halted) {
    self->trigger(hdl);
    c.halted = false;
  }
}

/// The 304 that replaces `res` (a 2xx to a GET or HEAD) when it carries an
/// ETag `if_none_match` matches: its headers, ETag included, and no body.
std::optional<response> not_modified_for(const response& res,
                                         std::string_view if_none_match) {
  for (auto& [name, value] : res.headers) {
    if (!boost::beast::iequals({name.data(), name.size()}, "etag"))
      continue;
    if (!if_none_match_matches(if_none_match, value))
      return std::nullopt;
    response result;
    result.status = 304;
    result.content_type.clear();
    result.headers = res.headers;
    return result;
  }
  return std::nullopt;
}

/// Writes `res`, the answer to `c`'s request (no longer in flight).
void finish_with(server_actor* self, connection_handle hdl, connection& c,
                 const response& res) {
  write_response(self, hdl, &c, res,
                 render_options{c.is_head,
                                c.must_close,
                                c.http10 && !c.must_close,
                                c.request_id,
                                {}});
  auto now = clock_type::now();
  c.last_activity = now;
  if (c.dispatching) {
    // The route is known once `handle` returns: `dispatch` tells.
    c.answered_in_handle = true;
    c.answered_status = res.status;
    c.answered_bytes = res.body.size();
  } else {
    observe_answer(self, c, res.status, res.body.size(), now);
  }
  // wr_buf holds what waits behind the write in progress.
  if (!c.must_close && self->wr_buf(hdl).size() > max_pending_output) {
    c.write_blocked = true;
    self->ack_writes(hdl, true);
  }
  if (c.dispatching)
    return;
  if (c.must_close)
    close_connection(self, hdl);
  else
    process(self, hdl, c);
}

/// Writes the response for request `serial`; a no-op when the connection is
/// gone or the request was already answered.
void finish(server_actor* self, connection_handle hdl, uint64_t serial,
            const response& res) {
  auto& st = self->state;
  auto i = st.conns.find(hdl);
  if (i == st.conns.end() || i->second.in_flight != serial)
    return;
  auto& c = i->second;
  c.in_flight = 0;
  --st.in_flight;
  c.must_close = c.must_close || !c.keep_alive || st.draining;
  if (!c.if_none_match.empty() && res.status / 100 == 2) {
    if (auto not_modified = not_modified_for(res, c.if_none_match)) {
      finish_with(self, hdl, c, *not_modified);
      return;
    }
  }
  finish_with(self, hdl, c, res);
}

responder make_responder(server_actor* self, connection_handle hdl,
                         uint64_t serial) {
  return [self, hdl, serial](response res) {
    try {
      finish(self, hdl, serial, res);
    } catch (const std::exception& e) {
      // Outside of `dispatch`: no log_scope names the request here.
      auto& conns = self->state.conns;
      auto i = conns.find(hdl);
      log({{"request_id", i != conns.end() ? i->second.request_id : ""}})
          .error("http: failed to write a response: {}", e.what());
    }
  };
}

constexpr std::string_view health_route = "/health";
constexpr std::string_view ready_route = "/ready";

/// Answers GET/HEAD /health and /ready. Returns the route it served, or ""
/// for other paths.
std::string_view serve_builtin(server_actor* self, const request& req,
                               responder& reply) {
  auto path = req.path();
  auto is_health = path == health_route;
  if (!is_health && path != ready_route)
    return {};
  auto route = is_health ? health_route : ready_route;
  if (req.msg.method() != boost::beast::http::verb::get) {
    auto res = error_response(405, "method_not_allowed", "use GET or HEAD");
    res.headers.emplace_back("Allow", "GET, HEAD");
    reply(std::move(res));
    return route;
  }
  response res;
  if (is_health) {
    res.body = R"({"status":"ok"})";
  } else if (self->state.draining) {
    res = not_ready_response("draining");
  } else if (auto check = self->state.h->failing_check(); !check.empty()) {
    res = not_ready_response(check);
  } else {
    res.body = R"({"status":"ready"})";
  }
  reply(std::move(res));
  return route;
}

/// Reads what the server itself needs from the request's fields into `c`,
/// in one pass over them (a lookup by name per field costs more than the
/// few fields a request has): its If-None-Match lines (GET only, joined with
/// ", "), and its X-Request-Id if the first is valid, else a fresh id.
void read_request_fields(server_actor* self, connection& c,
                         const request& req) {
  namespace bh = boost::beast::http;
  c.if_none_match.clear();
  auto is_get = req.msg.method() == bh::verb::get;
  std::optional<std::string_view> id;
  for (auto& field : req.msg) {
    auto name = field.name();
    auto value = field.value();
    if (name == bh::field::if_none_match) {
      if (!is_get)
        continue;
      if (!c.if_none_match.empty())
        c.if_none_match += ", ";
      c.if_none_match.append(value.data(), value.size());
    } else if (name == bh::field::unknown && !id &&
               boost::beast::iequals(field.name_string(), "X-Request-Id")) {
      id = std::string_view{value.data(), value.size()};
    }
  }
  if (id && valid_request_id(*id))
    c.request_id.assign(id->data(), id->size());
  else
    self->state.ids.next(c.request_id);
}

/// Hands a complete request to the built-in routes or the handler. Returns
/// whether the connection is still open.
bool dispatch(server_actor* self, connection_handle hdl, connection& c,
              request req) {
  auto& st = self->state;
  auto serial = ++st.last_serial;
  c.in_flight = serial;
  ++st.in_flight;
  c.is_head = req.is_head;
  c.keep_alive = req.keep_alive;
  c.http10 = req.msg.version() < 11;
  c.method = req.msg.method();
  c.route = std::string_view{};
  c.answered_in_handle = false;
  read_request_fields(self, c, req);
  req.request_id = c.request_id;
  if (!st.cfg.observers.empty()) {
    auto path = req.path();
    c.path.assign(path.data(), path.size());
  }
  // Close enough for the sweep, and free: set when its bytes arrived or the
  // previous response was written.
  c.dispatched_at = c.last_activity;
  c.dispatching = true;
  auto reply = make_responder(self, hdl, serial);
  // Whatever the handler logs while it runs is about this request.
  log_scope request_fields{{"request_id", c.request_id}};
  try {
    c.route = serve_builtin(self, req, reply);
    if (c.route.empty())
      c.route = st.h->handle(self, std::move(req), std::move(reply));
  } catch (const std::exception& e) {
    log().error("http: handler threw: {}", e.what());
    finish(self, hdl, serial,
           error_response(500, "internal_error", "internal server error"));
  } catch (...) {
    log().error("http: handler threw a non-std exception");
    finish(self, hdl, serial,
           error_response(500, "internal_error", "internal server error"));
  }
  // The handler only answers or stores the responder, neither erases `c`.
  c.dispatching = false;
  if (c.answered_in_handle) {
    c.answered_in_handle = false;
    observe_answer(self, c, c.answered_status, c.answered_bytes,
                   c.last_activity);
  }
  if (c.in_flight == 0 && c.must_close) {
    close_connection(self, hdl);
    return false;
  }
  return true;
}

/// Parses and dispatches buffered requests until one is in flight, more
/// bytes are needed or the connection is closed (`c` dangles then).
void process(server_actor* self, connection_handle hdl, connection& c) {
  while (c.in_flight == 0 && !c.write_blocked) {
    switch (c.reader.next()) {
    case read_status::need_more:
      if (!c.reader.has_partial())
        c.partial_since = time_point{};
      else if (c.partial_since == time_point{})
        c.partial_since = clock_type::now();
      update_reading(self, hdl, c);
      return;
    case read_status::send_continue:
      send_out(self, hdl, &c.out, continue_response, {});
      break;
    case read_status::failed: {
      auto& err = c.reader.error();
      reply_and_close(self, hdl,
                      error_response(err.status, err.code, err.message));
      return;
    }
    case read_status::complete:
      c.partial_since = time_point{};
      if (!dispatch(self, hdl, c, c.reader.take()))
        return;
      break;
    }
  }
  update_reading(self, hdl, c);
}

// -- event handlers -----------------------------------------------------------

void on_connection(server_actor* self, connection_handle hdl) {
  auto& st = self->state;
  if (st.draining) {
    self->close(hdl);
    return;
  }
  if (st.conns.size() >= st.cfg.max_connections) {
    reply_and_close(self, hdl,
                    error_response(503, "too_many_connections",
                                   "too many open connections"));
    return;
  }
  if (st.accept_failures != 0) {
    log().info("http: accepting connections again (after {} failed "
               "attempts)",
               st.accept_failures);
    st.accept_failures = 0;
    st.accept_failures_unlogged = 0;
  }
  auto& c = st.conns.try_emplace(hdl, st.cfg, clock_type::now()).first->second;
  observe_connections(self);
  c.fd = direct_socket(self, hdl, st.port);
  if (st.cfg.direct_writes)
    c.out.fd = c.fd;
  self->configure_read(hdl, caf::io::receive_policy::at_most(read_size));
}

void on_data(server_actor* self, caf::io::new_data_msg& msg) {
  auto& st = self->state;
  auto i = st.conns.find(msg.handle);
  if (i == st.conns.end())
    return;
  auto& c = i->second;
  if (c.closing)
    return;
  // The scribe reuses msg.buf: the reader copies what it keeps.
  c.reader.append(msg.buf.data(), msg.buf.size());
  c.last_activity = clock_type::now();
  if (c.in_flight != 0)
    update_reading(self, msg.handle, c);
  else
    process(self, msg.handle, c);
}

void on_transferred(server_actor* self,
                    const caf::io::data_transferred_msg& msg) {
  auto& st = self->state;
  auto i = st.conns.find(msg.handle);
  if (i == st.conns.end())
    return;
  auto& c = i->second;
  if (msg.written > 0)
    c.last_activity = clock_type::now();
  if (msg.remaining == 0)
    c.out.caf_writing = false;
  if (c.closing) {
    if (!c.out.caf_writing) {
      self->close(msg.handle);
      forget_connection(self, msg.handle);
    }
    return;
  }
  auto unblocked = c.write_blocked && msg.remaining <= max_pending_output;
  if (unblocked)
    c.write_blocked = false;
  if (!c.out.caf_writing && !c.write_blocked)
    self->ack_writes(msg.handle, false);
  if (!unblocked)
    return;
  if (c.in_flight == 0)
    process(self, msg.handle, c);
  else
    update_reading(self, msg.handle, c);
}

caf::timespan tick_interval(const server_config& cfg) {
  using namespace std::chrono;
  auto quarter = std::min(cfg.idle_timeout, cfg.request_timeout) / 4;
  auto lo = caf::timespan{milliseconds{10}};
  auto hi = caf::timespan{seconds{1}};
  return std::clamp(caf::timespan{quarter}, lo, hi);
}

void on_tick(server_actor* self) {
  auto& st = self->state;
  auto now = clock_type::now();
  auto limit =
      std::chrono::duration_cast<clock_type::duration>(st.cfg.idle_timeout);
  auto request_limit =
      std::chrono::duration_cast<clock_type::duration>(st.cfg.request_timeout);
  st.expired.clear();
  st.timed_out.clear();
  st.overdue.clear();
  st.aborted.clear();
  for (auto& [hdl, c] : st.conns) {
    if (c.closing) {
      // The client took none of its last bytes for idle_timeout.
      if (now - c.last_activity > limit)
        st.aborted.push_back(hdl);
      continue;
    }
    if (c.in_flight != 0) {
      if (now - c.dispatched_at > request_limit)
        st.overdue.emplace_back(hdl, c.in_flight);
      continue;
    }
    if (c.write_blocked) {
      // The client stopped reading its responses.
      if (now - c.last_activity > limit)
        st.expired.push_back(hdl);
    } else if (c.partial_since != time_point{}) {
      if (now - c.partial_since > limit)
        st.timed_out.push_back(hdl);
    } else if (!c.reader.has_partial() && now - c.last_activity > limit) {
      st.expired.push_back(hdl);
    }
  }
  for (auto hdl : st.timed_out)
    reply_and_close(self, hdl,
                    error_response(408, "request_timeout",
                                   "the request did not arrive in time"));
  for (auto hdl : st.aborted)
    abort_and_forget(self, hdl);
  for (auto hdl : st.expired) {
    auto i = st.conns.find(hdl);
    if (i != st.conns.end())
      expire_connection(self, hdl, i->second);
  }
  if (!st.overdue.empty()) {
    auto res = st.h->timeout_response();
    for (auto& [hdl, serial] : st.overdue)
      finish(self, hdl, serial, res);
  }
  self->delayed_send(self, tick_interval(st.cfg), tick_atom::value);
}

void on_accept_paused(server_actor* self, int32_t err) {
  auto& st = self->state;
  auto now = clock_type::now();
  ++st.accept_failures;
  ++st.accept_failures_unlogged;
  if (st.accept_failures == 1) {
    log().warn("http: cannot accept connections: {}; trying again every {} "
               "ms until descriptors free up",
               std::strerror(err), accept_pause.count());
    st.accept_logged_at = now;
    st.accept_failures_unlogged = 0;
  } else if (now - st.accept_logged_at >= accept_log_interval) {
    log().warn("http: still cannot accept connections: {} ({} failed "
               "attempts in the last {} s)",
               std::strerror(err), st.accept_failures_unlogged,
               std::chrono::duration_cast<std::chrono::seconds>(
                   now - st.accept_logged_at)
                   .count());
    st.accept_logged_at = now;
    st.accept_failures_unlogged = 0;
  }
  if (!st.draining)
    self->delayed_send(self, accept_pause, accept_resume_atom::value);
}

void start_drain(server_actor* self, caf::error reason) {
  auto& st = self->state;
  if (st.draining)
    return;
  std::vector<connection_handle> idle;
  size_t partial = 0;
  for (auto& [hdl, c] : st.conns) {
    if (c.in_flight != 0) {
      c.must_close = true;
    } else if (!c.closing && c.reader.has_partial()) {
      // Part of a request arrived: its client gets an answer, not a closed
      // connection. Reading goes on; once complete, the request is served
      // and answered with `Connection: close`; if it is still incomplete
      // at the drain timeout, it gets a 503.
      c.must_close = true;
      ++partial;
    } else {
      idle.push_back(hdl);
    }
  }
  log().info("http: draining ({} requests in flight, {} half received)",
             st.in_flight, partial);
  self->close(st.acceptor);
  for (auto hdl : idle)
    close_connection(self, hdl);
  // Set only now so that closing the idle connections does not quit early.
  st.draining = true;
  st.drain_reason = std::move(reason);
  if (!st.conns.empty())
    self->delayed_send(self, st.cfg.drain_timeout, drain_atom::value);
  else
    stop_server(self);
}

/// The drain timeout: requests in flight get the handler's timeout response,
/// requests still half received a 503 `shutting_down`, both with
/// `Connection: close`. Connections whose client has not taken earlier
/// output are aborted (a graceful close would keep their socket, and CAF's
/// I/O loop with it, until the client reads).
void on_drain_timeout(server_actor* self) {
  auto& st = self->state;
  log().warn("http: drain timeout, closing {} connections", st.conns.size());
  std::vector<connection_handle> stuck;
  std::vector<connection_handle> partial;
  std::vector<std::pair<connection_handle, uint64_t>> in_flight;
  for (auto& [hdl, c] : st.conns) {
    if (c.closing || c.out.caf_writing || c.write_blocked)
      stuck.push_back(hdl);
    else if (c.in_flight != 0)
      in_flight.emplace_back(hdl, c.in_flight);
    else
      partial.push_back(hdl);
  }
  for (auto hdl : stuck) {
    auto i = st.conns.find(hdl);
    abort_connection(self, hdl, i->second.fd);
    if (i->second.in_flight != 0)
      --st.in_flight;
    if (i->second.closing)
      --st.closing;
    st.conns.erase(i);
  }
  if (!in_flight.empty()) {
    auto res = st.h->timeout_response();
    for (auto& [hdl, serial] : in_flight)
      finish(self, hdl, serial, res);
  }
  for (auto hdl : partial)
    if (st.conns.count(hdl) != 0)
      reply_and_close(self, hdl,
                      error_response(503, "shutting_down",
                                     "the server is shutting down and the "
                                     "request did not arrive in time"));
  // What is left holds an answer CAF is still writing (the socket took
  // only part of it): CAF's graceful close sends it.
  for (auto& [hdl, c] : st.conns)
    self->close(hdl);
  st.conns.clear();
  observe_connections(self);
  st.in_flight = 0;
  st.closing = 0;
  self->close_all();
  stop_server(self);
}

caf::behavior server_impl(server_actor* self, caf::io::doorman_ptr acceptor,
                          server_config cfg, std::shared_ptr<handler> h) {
  auto& st = self->state;
  st.acceptor = acceptor->hdl();
  st.port = acceptor->port();
  st.cfg = std::move(cfg);
  st.h = std::move(h);
  self->add_doorman(std::move(acceptor));
  // Never let a stray message bounce an error back and kill a sender, and
  // never let an unhandled error response kill the server.
  self->set_default_handler(caf::drop);
  // Actors the handler monitors (e.g. remote carts) end: its business.
  self->set_down_handler(
      [self](caf::down_msg& dm) { self->state.h->on_down(self, dm); });
  self->set_error_handler([](caf::error& err) {
    log().warn("http: unhandled error in the server broker: {}",
               caf::to_string(err));
  });
  self->set_exit_handler(
      [self](caf::exit_msg& msg) { start_drain(self, std::move(msg.reason)); });
  // CAF leaves a stopped broker's mailbox open: without this, a message that
  // arrives later and holds the server (its own tick) keeps it alive forever.
  self->attach_functor([self](const caf::error& reason) {
    caf_shims::close_mailbox(self, reason);
  });
  self->delayed_send(self, tick_interval(st.cfg), tick_atom::value);
  caf::message_handler own{
      [self](const caf::io::new_connection_msg& msg) {
        on_connection(self, msg.handle);
      },
      [self](caf::io::new_data_msg& msg) { on_data(self, msg); },
      [self](const caf::io::connection_closed_msg& msg) {
        forget_connection(self, msg.handle);
      },
      [self](const caf::io::data_transferred_msg& msg) {
        on_transferred(self, msg);
      },
      [self](const caf::io::acceptor_closed_msg&) {
        if (!self->state.draining)
          log().error("http: the listening socket closed unexpectedly");
      },
      [self](tick_atom) { on_tick(self); },
      [self](accept_paused_atom, int32_t err) { on_accept_paused(self, err); },
      [self](accept_resume_atom) {
        if (!self->state.draining)
          self->trigger(self->state.acceptor);
      },
      [self](drain_atom) { on_drain_timeout(self); },
      [self](caf::get_atom) { return self->state.port; },
  };
  return own.or_else(st.h->messages(self));
}

caf::error write_port_file(const std::string& path, uint16_t port) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << port << '\n';
    out.close();
    if (!out)
      return caf::make_error(caf::sec::runtime_error, "cannot write port file",
                             tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return caf::make_error(caf::sec::runtime_error, "cannot rename port file",
                           path);
  }
  return caf::none;
}

} // namespace

caf::expected<caf::actor> spawn_server(caf::actor_system& sys,
                                       server_config cfg,
                                       std::shared_ptr<handler> h,
                                       uint16_t& bound_port, int listening_fd) {
  if (h == nullptr)
    return caf::make_error(caf::sec::invalid_argument, "no HTTP handler");
  auto& mm = sys.middleman();
  auto host = cfg.host.empty() ? nullptr : cfg.host.c_str();
  auto acceptor = listening_fd >= 0
                      ? new_paced_doorman(mm.backend(), listening_fd)
                      : new_paced_doorman(mm.backend(), cfg.port, host, true);
  if (!acceptor)
    return std::move(acceptor.error());
  bound_port = (*acceptor)->port();
  if (!cfg.port_file.empty())
    if (auto err = write_port_file(cfg.port_file, bound_port))
      return err; // the doorman was never launched: dropping it closes it
  log().info("listening on {}:{}", cfg.host.empty() ? "0.0.0.0" : cfg.host,
             bound_port);
  return mm.spawn_broker(server_impl, std::move(*acceptor), std::move(cfg),
                         std::move(h));
}

caf::expected<caf::actor> spawn_server(caf::actor_system& sys,
                                       server_config cfg,
                                       std::shared_ptr<handler> h) {
  uint16_t bound_port = 0;
  return spawn_server(sys, std::move(cfg), std::move(h), bound_port);
}

} // namespace cartd::http
