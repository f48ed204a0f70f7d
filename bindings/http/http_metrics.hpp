#pragma once

// Feeds a node's HTTP metrics (runtime/metrics/node_metrics.hpp) from the
// server's exchanges: cartd_http_requests_total{method,route,status},
// cartd_http_request_duration_seconds{route} and cartd_http_connections.
//
// The route label is the route template, "/health" or "/ready", or
// "unmatched" for a request no route took (404, 405, the server's own 4xx
// and 503) -- never the raw path, so the label set stays small. Cells are
// resolved once per (route, method, status) and cached: an observation is a
// map lookup by the route's text plus relaxed atomic adds. Observers run on
// the broker's one thread, so the cache needs no lock.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/http/http.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace cartd::http {

class metrics_observer : public exchange_observer {
public:
  explicit metrics_observer(std::shared_ptr<metrics::node_metrics> metrics);

  void on_exchange(const exchange& ex) override;

  void on_connections(size_t open) override;

  /// The route label of an exchange's route.
  static std::string_view route_label(std::string_view route) noexcept;

private:
  struct status_cell {
    boost::beast::http::verb method;
    unsigned status;
    metrics::counter* requests;
  };

  struct route_cells {
    metrics::histogram* duration = nullptr;
    std::vector<status_cell> requests;
  };

  std::shared_ptr<metrics::node_metrics> metrics_;
  // std::less<>: found by the route's text without building a string. Keyed
  // by text, not by address: a restarted handler may put another route's
  // text where an old one was.
  std::map<std::string, route_cells, std::less<>> routes_;
};

} // namespace cartd::http
