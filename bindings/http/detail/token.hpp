#pragma once

// Character classes from RFC 7230, shared by the reader and the renderer.

#include <string_view>

namespace cartd::http::detail {

/// Whether `c` may appear in a token (a method or a header field name).
inline bool is_tchar(char c) noexcept {
  constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || specials.find(c) != specials.npos;
}

} // namespace cartd::http::detail
