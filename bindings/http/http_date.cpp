#include "bindings/http/http_date.hpp"

namespace cartd::http {

namespace {

constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};

constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};

void append_two_digits(std::string& out, int value) {
  out += static_cast<char>('0' + value / 10 % 10);
  out += static_cast<char>('0' + value % 10);
}

} // namespace

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out;
  out.reserve(29);
  out += day_names[tm.tm_wday % 7];
  out += ", ";
  append_two_digits(out, tm.tm_mday);
  out += ' ';
  out += month_names[tm.tm_mon % 12];
  out += ' ';
  auto year = tm.tm_year + 1900;
  append_two_digits(out, year / 100);
  append_two_digits(out, year % 100);
  out += ' ';
  append_two_digits(out, tm.tm_hour);
  out += ':';
  append_two_digits(out, tm.tm_min);
  out += ':';
  append_two_digits(out, tm.tm_sec);
  out += " GMT";
  return out;
}

std::string_view date_clock::at(std::chrono::system_clock::time_point now) {
  auto second = std::chrono::system_clock::to_time_t(now);
  if (second != second_) {
    second_ = second;
    text_ = format_http_date(second);
    ++formatted_;
  }
  return text_;
}

} // namespace cartd::http
