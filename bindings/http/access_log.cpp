#include "bindings/http/access_log.hpp"

#include <charconv>

#include "runtime/core/log_encoding.hpp"

namespace cartd::http {

namespace {

void append_number(std::string& out, uint64_t x) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, res.ptr);
}

/// Milliseconds with microseconds: "0.412", "1250.003".
void append_millis(std::string& out, std::chrono::steady_clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 0)
    us = 0;
  append_number(out, static_cast<uint64_t>(us / 1000));
  out += '.';
  auto frac = static_cast<unsigned>(us % 1000);
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
}

std::string_view method_name(boost::beast::http::verb v) {
  if (v == boost::beast::http::verb::unknown)
    return "-";
  auto name = boost::beast::http::to_string(v);
  return {name.data(), name.size()};
}

} // namespace

access_log::access_log(log_format format, std::string node,
                       std::shared_ptr<line_writer> out)
    : format_(format), node_(std::move(node)), out_(std::move(out)) {}

void access_log::on_exchange(const exchange& ex) {
  // Per thread, not per object: one observer may serve several servers.
  thread_local std::string line;
  line.clear();
  render(ex, std::chrono::system_clock::now(), line);
  out_->write(line);
}

void access_log::render(const exchange& ex,
                        std::chrono::system_clock::time_point now,
                        std::string& out) const {
  auto method = method_name(ex.method);
  if (format_ == log_format::json) {
    out += "{\"ts\":\"";
    append_rfc3339_utc(out, now);
    out += "\",\"level\":\"info\",\"logger\":\"access\",\"msg\":";
    std::string msg;
    msg.reserve(method.size() + ex.path.size() + 6);
    msg.append(method);
    msg += ' ';
    msg.append(ex.path);
    msg += ' ';
    append_number(msg, ex.status);
    append_json_string(out, msg);
    out += ",\"method\":";
    append_json_string(out, method);
    out += ",\"route\":";
    append_json_string(out, ex.route);
    out += ",\"path\":";
    append_json_string(out, ex.path);
    out += ",\"status\":";
    append_number(out, ex.status);
    out += ",\"bytes\":";
    append_number(out, ex.body_bytes);
    out += ",\"duration_ms\":";
    append_millis(out, ex.finished - ex.started);
    out += ",\"node\":";
    append_json_string(out, node_);
    out += ",\"request_id\":";
    append_json_string(out, ex.request_id);
    out += "}\n";
    return;
  }
  append_rfc3339_utc(out, now);
  out += " info access ";
  out.append(method);
  out += ' ';
  append_logfmt_value(out, ex.path.empty() ? "-" : ex.path);
  out += ' ';
  append_number(out, ex.status);
  out += " route=";
  append_logfmt_value(out, ex.route);
  out += " bytes=";
  append_number(out, ex.body_bytes);
  out += " duration_ms=";
  append_millis(out, ex.finished - ex.started);
  if (!node_.empty()) {
    out += " node=";
    append_logfmt_value(out, node_);
  }
  out += " request_id=";
  append_logfmt_value(out, ex.request_id);
  out += '\n';
}

} // namespace cartd::http
