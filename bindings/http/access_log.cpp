#include "bindings/http/access_log.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "runtime/core/log_encoding.hpp"

namespace cartd::http {

namespace {

using steady = std::chrono::steady_clock;

/// memcpy of `s` to `dst`; nothing for an empty `s`, whose data() may be
/// null (an exchange's unset route, path or id), which memcpy must not get.
inline void copy_bytes(char* dst, std::string_view s) noexcept {
  if (!s.empty())
    std::memcpy(dst, s.data(), s.size());
}

/// Milliseconds with microseconds of `d` into `buf` (24 bytes at least):
/// "0.412", "1250.003". Its length.
size_t format_millis(char* buf, steady::duration d) noexcept {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0)
    us = 0;
  auto end = std::to_chars(buf, buf + 20, static_cast<uint64_t>(us / 1000)).ptr;
  auto frac = static_cast<unsigned>(us % 1000);
  *end++ = '.';
  *end++ = static_cast<char>('0' + frac / 100);
  *end++ = static_cast<char>('0' + frac / 10 % 10);
  *end++ = static_cast<char>('0' + frac % 10);
  return static_cast<size_t>(end - buf);
}

// The two places render_line() writes to. Both take the same calls; they
// differ in what a value costs: string_line escapes and quotes as the
// format needs, fixed_line copies (render_plain checked that nothing needs
// escaping) and gives up when the buffer is full.

/// Appends to a std::string.
struct string_line {
  std::string& out;

  void put(std::string_view s) { out.append(s); }

  void put(char c) { out += c; }

  template <size_t N>
  void put_literal(const char (&s)[N]) {
    out.append(s, N - 1);
  }

  void put_number(uint64_t x) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof(buf), x).ptr);
  }

  void put_millis(steady::duration d) {
    char buf[32];
    out.append(buf, format_millis(buf, d));
  }

  void put_time(std::chrono::system_clock::time_point t) {
    append_rfc3339_utc(out, t);
  }

  void put_json(std::string_view s) { append_json_string(out, s); }

  void put_logfmt(std::string_view s) { append_logfmt_value(out, s); }

  /// The JSON line's "msg": method, path and status as one string.
  void put_json_msg(std::string_view method, std::string_view path,
                    unsigned status) {
    std::string msg;
    msg.reserve(method.size() + path.size() + 6);
    msg.append(method);
    msg += ' ';
    msg.append(path);
    msg += ' ';
    msg += std::to_string(status);
    append_json_string(out, msg);
  }
};

/// Fills a fixed buffer; `ok` turns false (and stays) once a piece does not
/// fit.
struct fixed_line {
  char* pos;
  char* end;
  bool ok = true;

  void put(std::string_view s) noexcept {
    if (static_cast<size_t>(end - pos) < s.size()) {
      ok = false;
      return;
    }
    copy_bytes(pos, s);
    pos += s.size();
  }

  void put(char c) noexcept { put(std::string_view{&c, 1}); }

  template <size_t N>
  void put_literal(const char (&s)[N]) noexcept {
    put(std::string_view{s, N - 1});
  }

  void put_number(uint64_t x) noexcept {
    char buf[24];
    put(std::string_view{
        buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof(buf), x).ptr -
                                 buf)});
  }

  void put_millis(steady::duration d) noexcept {
    char buf[32];
    put(std::string_view{buf, format_millis(buf, d)});
  }

  void put_time(std::chrono::system_clock::time_point t) noexcept {
    char buf[rfc3339_utc_size];
    write_rfc3339_utc(buf, t);
    put(std::string_view{buf, rfc3339_utc_size});
  }

  // Plain values only (render_plain checks): as they are.
  void put_json(std::string_view s) noexcept {
    put('"');
    put(s);
    put('"');
  }

  void put_logfmt(std::string_view s) noexcept { put(s); }

  void put_json_msg(std::string_view method, std::string_view path,
                    unsigned status) noexcept {
    put('"');
    put(method);
    put(' ');
    put(path);
    put(' ');
    put_number(status);
    put('"');
  }
};

std::string_view method_name(boost::beast::http::verb v) {
  if (v == boost::beast::http::verb::unknown)
    return "-";
  auto name = boost::beast::http::to_string(v);
  return {name.data(), name.size()};
}

/// The line of `ex`, its response written at `at`, in `f`'s format.
template <class Line>
void render_line(const access_line_format& f, const exchange& ex,
                 std::chrono::system_clock::time_point at, Line& out) {
  auto method = method_name(ex.method);
  if (f.format == log_format::json) {
    out.put_literal("{\"ts\":\"");
    out.put_time(at);
    out.put_literal("\",\"level\":\"info\",\"logger\":\"access\",\"msg\":");
    out.put_json_msg(method, ex.path, ex.status);
    out.put_literal(",\"method\":");
    out.put_json(method);
    out.put_literal(",\"route\":");
    out.put_json(ex.route);
    out.put_literal(",\"path\":");
    out.put_json(ex.path);
    out.put_literal(",\"status\":");
    out.put_number(ex.status);
    out.put_literal(",\"bytes\":");
    out.put_number(ex.body_bytes);
    out.put_literal(",\"duration_ms\":");
    out.put_millis(ex.finished - ex.started);
    out.put_literal(",\"node\":");
    out.put_json(f.node);
    out.put_literal(",\"request_id\":");
    out.put_json(ex.request_id);
    out.put_literal("}\n");
    return;
  }
  out.put_time(at);
  out.put_literal(" info access ");
  out.put(method);
  out.put(' ');
  out.put_logfmt(ex.path.empty() ? std::string_view{"-"} : ex.path);
  out.put(' ');
  out.put_number(ex.status);
  out.put_literal(" route=");
  out.put_logfmt(ex.route);
  out.put_literal(" bytes=");
  out.put_number(ex.body_bytes);
  out.put_literal(" duration_ms=");
  out.put_millis(ex.finished - ex.started);
  if (!f.node.empty()) {
    out.put_literal(" node=");
    out.put_logfmt(f.node);
  }
  out.put_literal(" request_id=");
  out.put_logfmt(ex.request_id);
  out.put('\n');
}

/// What on_exchange hands to the writer: this head, then the route, the
/// path and the request id. Whole records only: the line_writer takes or
/// drops each write as a whole and hands its output whole runs of them.
struct record_head {
  uint32_t size; // the whole record, head included
  uint32_t route_size;
  uint32_t path_size;
  uint32_t id_size;
  uint64_t body_bytes;
  int64_t started; // steady_clock ticks
  int64_t finished;
  uint16_t status;
  uint8_t method;
};

static_assert(static_cast<unsigned>(boost::beast::http::verb::unlink) <= 255,
              "a record keeps the method in a byte");

/// Renders the records in `run` into lines (on the writer's thread) and
/// passes them to `out`. A line's time: ex.finished, converted to the
/// system clock by one pair of clock readings per run.
void render_records(const access_line_format& log, std::string_view run,
                    const line_writer::output& out) {
  auto wall_now = std::chrono::system_clock::now();
  auto steady_now = steady::now();
  std::string text;
  text.reserve(run.size() * 2);
  char line[1024];
  size_t i = 0;
  while (run.size() - i >= sizeof(record_head)) {
    record_head h;
    std::memcpy(&h, run.data() + i, sizeof(h));
    if (h.size < sizeof(h) || h.size > run.size() - i)
      break; // never: the writer hands whole records
    const char* p = run.data() + i + sizeof(h);
    exchange ex;
    ex.route = std::string_view{p, h.route_size};
    p += h.route_size;
    ex.path = std::string_view{p, h.path_size};
    p += h.path_size;
    ex.request_id = std::string_view{p, h.id_size};
    ex.method = static_cast<boost::beast::http::verb>(h.method);
    ex.status = h.status;
    ex.body_bytes = h.body_bytes;
    ex.started = steady::time_point{steady::duration{h.started}};
    ex.finished = steady::time_point{steady::duration{h.finished}};
    auto at = wall_now -
              std::chrono::duration_cast<std::chrono::system_clock::duration>(
                  steady_now - ex.finished);
    if (auto n = log.render_plain(ex, at, line, sizeof(line)); n > 0)
      text.append(line, n);
    else
      log.render(ex, at, text);
    i += h.size;
  }
  out(text);
}

} // namespace

access_log::access_log(log_format format, std::string node,
                       line_writer::output out, line_writer::settings settings)
    : lines_{format, std::move(node)} {
  // The writer's thread renders with a copy of the format: it may still run
  // while this object is being destroyed.
  out_ = std::make_shared<line_writer>(
      [lines = lines_, out = std::move(out)](std::string_view run) {
        render_records(lines, run, out);
      },
      settings);
}

void access_log::on_exchange(const exchange& ex) {
  record_head h{};
  h.route_size = static_cast<uint32_t>(ex.route.size());
  h.path_size = static_cast<uint32_t>(ex.path.size());
  h.id_size = static_cast<uint32_t>(ex.request_id.size());
  h.size = static_cast<uint32_t>(sizeof(h) + ex.route.size() + ex.path.size() +
                                 ex.request_id.size());
  h.body_bytes = ex.body_bytes;
  h.started = ex.started.time_since_epoch().count();
  h.finished = ex.finished.time_since_epoch().count();
  h.status = static_cast<uint16_t>(std::min(ex.status, 65535u));
  h.method = static_cast<uint8_t>(ex.method);
  auto encode = [&](char* p) {
    std::memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    copy_bytes(p, ex.route);
    p += ex.route.size();
    copy_bytes(p, ex.path);
    p += ex.path.size();
    copy_bytes(p, ex.request_id);
  };
  char buf[512];
  if (h.size <= sizeof(buf)) {
    encode(buf);
    out_->write(std::string_view{buf, h.size});
    return;
  }
  // Per thread, not per object: one observer may serve several servers.
  thread_local std::string big;
  big.resize(h.size);
  encode(big.data());
  out_->write(big);
}

size_t
access_line_format::render_plain(const exchange& ex,
                                 std::chrono::system_clock::time_point at,
                                 char* buf, size_t size) const {
  if (format == log_format::json) {
    if (!json_plain(ex.path) || !json_plain(ex.route) || !json_plain(node) ||
        !json_plain(ex.request_id))
      return 0;
  } else if (!logfmt_plain(ex.path.empty() ? std::string_view{"-"} : ex.path) ||
             !logfmt_plain(ex.route) ||
             (!node.empty() && !logfmt_plain(node)) ||
             !logfmt_plain(ex.request_id)) {
    return 0;
  }
  fixed_line out{buf, buf + size};
  render_line(*this, ex, at, out);
  return out.ok ? static_cast<size_t>(out.pos - buf) : 0;
}

void access_line_format::render(const exchange& ex,
                                std::chrono::system_clock::time_point at,
                                std::string& out) const {
  string_line line{out};
  render_line(*this, ex, at, line);
}

} // namespace cartd::http
