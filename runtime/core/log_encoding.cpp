#include "runtime/core/log_encoding.hpp"

#include <cstdint>
#include <cstring>
#include <ctime>

namespace cartd {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

/// Per byte: whether it goes into a JSON string as it is (`json_plain`: not
/// a control character, `"`, `\` or a byte >= 0x80) and into a logfmt value
/// as it is (`logfmt_plain`: visible ASCII other than `"`, `\` and `=`). One
/// table lookup per byte instead of a chain of comparisons: an access log
/// line scans every byte of its path, route, node and request id.
struct byte_classes {
  bool json_plain[256] = {};
  bool logfmt_plain[256] = {};

  constexpr byte_classes() {
    for (int c = 0; c < 256; ++c) {
      json_plain[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
      logfmt_plain[c] =
          c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
    }
  }
};

constexpr byte_classes classes;

/// The length of the well-formed UTF-8 sequence at the start of `s` (whose
/// first byte is >= 0x80), or 0 when there is none (RFC 3629, table 3-7 of
/// the Unicode standard: no overlong forms, no surrogates, nothing above
/// U+10FFFF).
size_t utf8_sequence(std::string_view s) noexcept {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  auto in = [&](size_t i, uint8_t lo, uint8_t hi) {
    return i < s.size() && byte(i) >= lo && byte(i) <= hi;
  };
  auto lead = byte(0);
  if (lead >= 0xc2 && lead <= 0xdf)
    return in(1, 0x80, 0xbf) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    uint8_t lo = lead == 0xe0 ? 0xa0 : 0x80;
    uint8_t hi = lead == 0xed ? 0x9f : 0xbf;
    return in(1, lo, hi) && in(2, 0x80, 0xbf) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    uint8_t lo = lead == 0xf0 ? 0x90 : 0x80;
    uint8_t hi = lead == 0xf4 ? 0x8f : 0xbf;
    return in(1, lo, hi) && in(2, 0x80, 0xbf) && in(3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

/// Appends the inside of a JSON string (no quotes).
void append_escaped(std::string& out, std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no escape in one go.
    size_t run = i;
    while (run < text.size() &&
           classes.json_plain[static_cast<uint8_t>(text[run])])
      ++run;
    out.append(text.data() + i, run - i);
    i = run;
    if (i == text.size())
      break;
    auto c = static_cast<uint8_t>(text[i]);
    if (c >= 0x80) {
      if (auto n = utf8_sequence(text.substr(i)); n > 0) {
        out.append(text.data() + i, n);
        i += n;
      } else {
        out += "\\ufffd";
        ++i;
      }
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      out += "\\u00";
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0xf];
    }
    ++i;
  }
}

void append_digits(std::string& out, unsigned value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

} // namespace

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_escaped(out, text);
  out += '"';
}

bool json_plain(std::string_view text) noexcept {
  for (auto ch : text)
    if (!classes.json_plain[static_cast<uint8_t>(ch)])
      return false;
  return true;
}

bool logfmt_plain(std::string_view text) noexcept {
  if (text.empty())
    return false;
  for (auto ch : text)
    if (!classes.logfmt_plain[static_cast<uint8_t>(ch)])
      return false;
  return true;
}

void append_logfmt_value(std::string& out, std::string_view text) {
  if (logfmt_plain(text))
    out.append(text);
  else
    append_json_string(out, text);
}

void append_rfc3339_utc(std::string& out,
                        std::chrono::system_clock::time_point t) {
  char buf[rfc3339_utc_size];
  write_rfc3339_utc(buf, t);
  out.append(buf, rfc3339_utc_size);
}

void write_rfc3339_utc(char* out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  auto secs = ms / 1000;
  auto frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  // gmtime_r is cheap but not free; a line per request asks for the same
  // second many times in a row.
  thread_local int64_t cached_secs = INT64_MIN;
  thread_local char cached[24];
  if (secs != cached_secs) {
    std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::string head;
    head.reserve(20);
    append_digits(head, static_cast<unsigned>(tm.tm_year + 1900), 4);
    head += '-';
    append_digits(head, static_cast<unsigned>(tm.tm_mon + 1), 2);
    head += '-';
    append_digits(head, static_cast<unsigned>(tm.tm_mday), 2);
    head += 'T';
    append_digits(head, static_cast<unsigned>(tm.tm_hour), 2);
    head += ':';
    append_digits(head, static_cast<unsigned>(tm.tm_min), 2);
    head += ':';
    append_digits(head, static_cast<unsigned>(tm.tm_sec), 2);
    head.copy(cached, 19);
    cached_secs = secs;
  }
  std::memcpy(out, cached, 19);
  auto millis = static_cast<unsigned>(frac);
  out[19] = '.';
  out[20] = static_cast<char>('0' + millis / 100);
  out[21] = static_cast<char>('0' + millis / 10 % 10);
  out[22] = static_cast<char>('0' + millis % 10);
  out[23] = 'Z';
}

} // namespace cartd
