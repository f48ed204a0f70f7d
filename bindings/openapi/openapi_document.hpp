#pragma once

// The REST API's OpenAPI 3.1 document (docs/openapi.yaml), embedded as JSON
// at build time (embed_openapi.py), for GET /openapi.json.

#include <string_view>

namespace cartd {

/// docs/openapi.yaml as compact JSON (ASCII), as it was when cartd was
/// built.
std::string_view openapi_document() noexcept;

} // namespace cartd
