#pragma once

// Process-wide logging through spdlog (CAF 0.17's own logger is compiled out
// in Debian's build). Everything logs through `cartd::log()`.
//
// Fields. A line may carry fields (`cart`, `request_id`, ...) besides its
// message: the text format appends them as ` key=value`, the JSON format
// writes them as members of the line's object. They come from three places,
// all on the logging thread and valid only during the call:
//   - the node's own fields (`set_log_node`): on every line;
//   - a `log_scope` alive on this thread (e.g. the HTTP server's request id
//     while a handler runs);
//   - the call itself: `log({{"cart", id}, {"request_id", rid}}).warn(...)`.
// A field with an empty value is left out, and a key is written once (the
// innermost wins). The node's logger is synchronous (it formats on the
// calling thread), which is what lets a thread-local scope carry fields.

#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace cartd {

/// The node's logger (stderr; "time level message key=value..." or a JSON
/// object per line, see set_log_format).
spdlog::logger& log();

/// Sets the level from a name: trace, debug, info, warn, error, off.
/// Returns false for an unknown name.
bool set_log_level(std::string_view name);

/// How lines are written.
enum class log_format {
  /// "2026-11-28T01:40:09.123 info message key=value ..." (local time).
  text,
  /// {"ts":"2026-11-28T01:40:09.123Z","level":"info","logger":"cartd",
  ///  "msg":"message","key":"value",...}: one object per line, ts in UTC.
  json,
};

/// Parses "text" or "json"; false for anything else.
bool parse_log_format(std::string_view name, log_format& out);

/// The format the node's lines are written in (text until set).
log_format current_log_format() noexcept;

/// Writes the node's lines in `format` from now on. Call it at start-up,
/// before other threads log.
void set_log_format(log_format format);

/// Sets the `node` field of every line (empty: none). Call it at start-up,
/// before other threads log.
void set_log_node(std::string name);

/// The node's name as set by set_log_node.
const std::string& log_node() noexcept;

/// A field of a log line. Views: the strings must outlive their use.
struct log_field {
  std::string_view key;
  std::string_view value;
};

/// Most fields a scope or a call carries (more are ignored).
constexpr size_t max_log_fields = 4;

/// Adds fields to every line this thread writes while the scope lives.
/// Scopes nest; destroy them in reverse order (use them as locals).
class log_scope {
public:
  explicit log_scope(std::initializer_list<log_field> fields) noexcept
      : log_scope(fields.begin(), fields.size()) {}

  log_scope(const log_field* fields, size_t n) noexcept;

  ~log_scope();

  log_scope(const log_scope&) = delete;
  log_scope& operator=(const log_scope&) = delete;

  /// Calls `f(field)` for every field of the scopes alive on this thread,
  /// innermost first.
  template <class F>
  static void for_each(F&& f) {
    for (auto* s = current(); s != nullptr; s = s->prev_)
      for (size_t i = 0; i < s->size_; ++i)
        f(s->fields_[i]);
  }

private:
  static const log_scope* current() noexcept;

  std::array<log_field, max_log_fields> fields_;
  size_t size_ = 0;
  const log_scope* prev_;
};

/// `log(fields)`: the node's logger with fields for one call. Use it as a
/// temporary: `log({{"cart", id_}}).warn("write failed: {}", why)`.
class field_logger {
public:
  explicit field_logger(std::initializer_list<log_field> fields) noexcept
      : fields_(fields) {}

  template <class... Ts>
  void log(spdlog::level::level_enum level, spdlog::format_string_t<Ts...> fmt,
           Ts&&... xs) {
    auto& target = cartd::log();
    if (!target.should_log(level))
      return;
    log_scope scope{fields_.begin(), fields_.size()};
    target.log(level, fmt, std::forward<Ts>(xs)...);
  }

  template <class... Ts>
  void trace(spdlog::format_string_t<Ts...> fmt, Ts&&... xs) {
    log(spdlog::level::trace, fmt, std::forward<Ts>(xs)...);
  }

  template <class... Ts>
  void debug(spdlog::format_string_t<Ts...> fmt, Ts&&... xs) {
    log(spdlog::level::debug, fmt, std::forward<Ts>(xs)...);
  }

  template <class... Ts>
  void info(spdlog::format_string_t<Ts...> fmt, Ts&&... xs) {
    log(spdlog::level::info, fmt, std::forward<Ts>(xs)...);
  }

  template <class... Ts>
  void warn(spdlog::format_string_t<Ts...> fmt, Ts&&... xs) {
    log(spdlog::level::warn, fmt, std::forward<Ts>(xs)...);
  }

  template <class... Ts>
  void error(spdlog::format_string_t<Ts...> fmt, Ts&&... xs) {
    log(spdlog::level::err, fmt, std::forward<Ts>(xs)...);
  }

private:
  std::initializer_list<log_field> fields_;
};

/// The node's logger with `fields` on the next line (see field_logger).
inline field_logger log(std::initializer_list<log_field> fields) noexcept {
  return field_logger{fields};
}

/// A formatter for `format` that adds the fields above (for the node's
/// logger; tests put it on a logger of their own).
std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format);

} // namespace cartd
