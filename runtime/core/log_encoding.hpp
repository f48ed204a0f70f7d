#pragma once

// The pieces of a log line that must be exact whatever they carry: JSON
// strings (escaped, always valid UTF-8), logfmt values (key=value, quoted
// when needed) and RFC 3339 timestamps in UTC. Used by the node's log
// formatters (log.cpp) and by the access log (bindings/http/access_log).

#include <chrono>
#include <string>
#include <string_view>

namespace cartd {

/// Appends `text` as a JSON string, quotes included: `"` and `\` escaped,
/// control characters as \n, \t, ... or \u00XX, and every byte that is not
/// part of a well-formed UTF-8 sequence (overlong forms and surrogates
/// included) replaced by U+FFFD, so the result is valid JSON whatever
/// `text` holds.
void append_json_string(std::string& out, std::string_view text);

/// Appends `text` as a logfmt value: as it is when it is a non-empty run of
/// visible ASCII without `"`, `\` or `=`, else quoted and escaped like a
/// JSON string (so one value never spans two lines or two fields).
void append_logfmt_value(std::string& out, std::string_view text);

/// Appends `t` in RFC 3339, UTC, with milliseconds:
/// "2026-11-28T01:40:09.123Z".
void append_rfc3339_utc(std::string& out,
                        std::chrono::system_clock::time_point t);

/// The same 24 characters written to `out` (no terminating NUL).
constexpr size_t rfc3339_utc_size = 24;
void write_rfc3339_utc(char* out, std::chrono::system_clock::time_point t);

/// Whether append_json_string would copy `text` as it is (between quotes):
/// printable ASCII without `"` and `\`. (Other text may be valid too;
/// this answers for the cheap case.)
bool json_plain(std::string_view text) noexcept;

/// Whether append_logfmt_value would copy `text` as it is: a non-empty run
/// of visible ASCII without `"`, `\` and `=`.
bool logfmt_plain(std::string_view text) noexcept;

} // namespace cartd
