#pragma once

// The live dashboard (GET /dashboard): dashboard.html, one self-contained
// page (inline CSS and JS, canvas charts, no external resources) embedded at
// build time by embed_file.cmake. It polls the node's /metrics, /cluster and
// /ready with relative URLs.

#include <string_view>

namespace cartd {

/// The page's HTML (static storage).
std::string_view dashboard_page();

} // namespace cartd
