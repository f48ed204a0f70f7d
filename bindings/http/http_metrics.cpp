#include "bindings/http/http_metrics.hpp"

#include <chrono>

namespace cartd::http {

metrics_observer::metrics_observer(
    std::shared_ptr<metrics::node_metrics> metrics)
    : metrics_(std::move(metrics)) {
  // nop
}

std::string_view
metrics_observer::route_label(std::string_view route) noexcept {
  return route.empty() ? std::string_view{"unmatched"} : route;
}

void metrics_observer::on_exchange(const exchange& ex) {
  auto route = route_label(ex.route);
  auto i = routes_.find(route);
  if (i == routes_.end()) {
    route_cells cells;
    cells.duration = &metrics_->http_request_duration.with({route});
    i = routes_.emplace(std::string{route}, std::move(cells)).first;
  }
  auto& cells = i->second;
  metrics::counter* requests = nullptr;
  for (auto& x : cells.requests)
    if (x.method == ex.method && x.status == ex.status) {
      requests = x.requests;
      break;
    }
  if (requests == nullptr) {
    std::string_view method = "unknown";
    if (ex.method != boost::beast::http::verb::unknown) {
      auto name = boost::beast::http::to_string(ex.method);
      method = std::string_view{name.data(), name.size()};
    }
    auto status = std::to_string(ex.status);
    requests = &metrics_->http_requests.with({method, route, status});
    cells.requests.push_back({ex.method, ex.status, requests});
  }
  requests->inc();
  cells.duration->observe(
      std::chrono::duration<double>(ex.finished - ex.started).count());
}

void metrics_observer::on_connections(size_t open) {
  metrics_->http_connections.set(static_cast<int64_t>(open));
}

} // namespace cartd::http
