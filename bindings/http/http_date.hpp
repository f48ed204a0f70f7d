#pragma once

// The Date header (RFC 9110 §6.6.1): every response carries the time it was
// made as an IMF-fixdate. Formatting a date per response would cost the hot
// path a gmtime and a dozen appends; `date_clock` formats it at most once per
// second and hands out the same text in between.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace cartd::http {

/// `t` (seconds since the epoch) as an IMF-fixdate in UTC, e.g. "Sun, 06 Nov
/// 1994 08:49:37 GMT" (RFC 9110 §5.6.7; English names whatever the locale).
std::string format_http_date(std::time_t t);

/// The Date header's value, formatted again only when the second changed.
/// Not thread-safe: the server keeps one in its broker.
class date_clock {
public:
  /// The IMF-fixdate of `now`. The view stays valid until the next call.
  std::string_view at(std::chrono::system_clock::time_point now);

  /// The IMF-fixdate of the current time.
  std::string_view now() { return at(std::chrono::system_clock::now()); }

  /// How many times it formatted a date (for tests).
  uint64_t formatted() const noexcept { return formatted_; }

private:
  std::time_t second_ = -1;
  std::string text_;
  uint64_t formatted_ = 0;
};

} // namespace cartd::http
