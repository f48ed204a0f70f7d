#pragma once

// Conditional GET (RFC 9110 §13.1.2, §13.2): a GET or HEAD whose
// If-None-Match names the entity tag its response would carry is answered
// 304 Not Modified instead, with that ETag and no body.

#include <string_view>

namespace cartd::http {

/// Whether If-None-Match `field` (all its lines joined by commas) matches
/// entity tag `etag` (the response's ETag value, e.g. `"7"` or `W/"7"`): `*`
/// matches any tag; otherwise one of its comma-separated entity tags matches
/// by the weak comparison (W/ ignored on both sides, the quoted text equal).
/// A malformed field, or an empty or malformed `etag`, matches nothing (the
/// request is then served as if unconditional).
bool if_none_match_matches(std::string_view field,
                           std::string_view etag) noexcept;

} // namespace cartd::http
