#include "runtime/core/log.hpp"

#include <algorithm>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "runtime/core/log_encoding.hpp"

namespace cartd {

namespace {

thread_local const log_scope* current_scope = nullptr;

log_format the_format = log_format::text;

std::string& node_name() {
  // Never destroyed: threads may log while the process exits.
  static auto* name = new std::string;
  return *name;
}

/// Calls `f(key, value)` once per key over the node's field and the scopes
/// alive on this thread (innermost first), skipping empty values.
template <class F>
void for_each_field(F&& f) {
  std::array<std::string_view, 16> seen;
  size_t n = 0;
  auto visit = [&](std::string_view key, std::string_view value) {
    if (value.empty())
      return;
    if (std::find(seen.begin(), seen.begin() + n, key) != seen.begin() + n)
      return;
    if (n < seen.size())
      seen[n++] = key;
    f(key, value);
  };
  log_scope::for_each([&](const log_field& x) { visit(x.key, x.value); });
  visit("node", node_name());
}

void append_view(spdlog::memory_buf_t& dest, std::string_view x) {
  dest.append(x.data(), x.data() + x.size());
}

/// Today's look ("time level message"), the fields appended as key=value.
class text_formatter : public spdlog::formatter {
public:
  text_formatter()
      : inner_("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v",
               spdlog::pattern_time_type::local, "") {}

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    inner_.format(msg, dest);
    scratch_.clear();
    for_each_field([&](std::string_view key, std::string_view value) {
      scratch_ += ' ';
      scratch_ += key;
      scratch_ += '=';
      append_logfmt_value(scratch_, value);
    });
    scratch_ += '\n';
    append_view(dest, scratch_);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<text_formatter>();
  }

private:
  spdlog::pattern_formatter inner_;
  std::string scratch_;
};

/// One JSON object per line.
class json_formatter : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    auto& out = scratch_;
    out.clear();
    out += "{\"ts\":\"";
    append_rfc3339_utc(out, msg.time);
    out += "\",\"level\":";
    auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(out, {level.data(), level.size()});
    out += ",\"logger\":";
    append_json_string(out, {msg.logger_name.data(), msg.logger_name.size()});
    out += ",\"msg\":";
    append_json_string(out, {msg.payload.data(), msg.payload.size()});
    for_each_field([&](std::string_view key, std::string_view value) {
      // The fixed members win over a field of the same name.
      if (key == "ts" || key == "level" || key == "logger" || key == "msg")
        return;
      out += ',';
      append_json_string(out, key);
      out += ':';
      append_json_string(out, value);
    });
    out += "}\n";
    append_view(dest, out);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

private:
  std::string scratch_;
};

} // namespace

log_scope::log_scope(const log_field* fields, size_t n) noexcept
    : prev_(current_scope) {
  size_ = std::min(n, max_log_fields);
  std::copy(fields, fields + size_, fields_.begin());
  current_scope = this;
}

log_scope::~log_scope() {
  current_scope = prev_;
}

const log_scope* log_scope::current() noexcept {
  return current_scope;
}

spdlog::logger& log() {
  // A function-local static: created on first use, thread-safe, and alive
  // until exit so actors that log during shutdown never see a dead logger.
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto result = spdlog::stderr_color_mt("cartd");
    result->set_formatter(make_log_formatter(log_format::text));
    result->set_level(spdlog::level::info);
    result->flush_on(spdlog::level::info);
    return result;
  }();
  return *instance;
}

bool set_log_level(std::string_view name) {
  auto level = spdlog::level::from_str(std::string{name});
  if (level == spdlog::level::off && name != "off")
    return false;
  log().set_level(level);
  return true;
}

bool parse_log_format(std::string_view name, log_format& out) {
  if (name == "text") {
    out = log_format::text;
    return true;
  }
  if (name == "json") {
    out = log_format::json;
    return true;
  }
  return false;
}

log_format current_log_format() noexcept {
  return the_format;
}

void set_log_format(log_format format) {
  the_format = format;
  log().set_formatter(make_log_formatter(format));
}

void set_log_node(std::string name) {
  node_name() = std::move(name);
}

const std::string& log_node() noexcept {
  return node_name();
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format) {
  if (format == log_format::json)
    return std::make_unique<json_formatter>();
  return std::make_unique<text_formatter>();
}

} // namespace cartd
