#pragma once

// Reading a node's GET /metrics in the e2e suites: the exposition text and
// single samples by name and labels.

#include <cstdlib>
#include <sstream>
#include <string>

#include "tests/e2e/e2e.hpp"

namespace cartd::test {

/// GET /metrics of the node at `port` (requires a 200).
inline std::string scrape(uint16_t port) {
  auto res = http_call(port, "GET", "/metrics");
  BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  BOOST_CHECK_EQUAL(res[boost::beast::http::field::content_type],
                    "text/plain; version=0.0.4; charset=utf-8");
  return res.body();
}

/// The value of the sample `series` (name and labels exactly as rendered,
/// e.g. `cartd_cart_restarts_total` or `x_total{a="1"}`) in `text`, 0 when
/// it is absent (a labelled counter not yet counted).
inline double sample(const std::string& text, const std::string& series) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.size() > series.size() &&
        line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  return 0;
}

/// Whether `text` has the sample `series` at all.
inline bool has_sample(const std::string& text, const std::string& series) {
  return text.find("\n" + series + " ") != std::string::npos;
}

/// The series of cartd_http_requests_total for these labels.
inline std::string http_requests(const std::string& method,
                                 const std::string& route,
                                 const std::string& status) {
  return "cartd_http_requests_total{method=\"" + method + "\",route=\"" +
         route + "\",status=\"" + status + "\"}";
}

} // namespace cartd::test
