#include "runtime/metrics/node_metrics.hpp"

#include "runtime/metrics/process_metrics.hpp"

namespace cartd::metrics {

node_metrics::node_metrics(std::shared_ptr<metrics::registry> reg, bool cluster)
    : reg_(std::move(reg)),
      http_requests(reg_->counter_family(
          "cartd_http_requests_total",
          "HTTP responses written, by method, route template and status.",
          {"method", "route", "status"})),
      http_request_duration(reg_->histogram_family(
          "cartd_http_request_duration_seconds",
          "Time from a complete request to its response being written.",
          {"route"},
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
           0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      http_connections(
          reg_->gauge("cartd_http_connections", "Open HTTP connections.")),
      carts_resident(
          reg_->gauge("cartd_carts_resident", "Carts in memory on this node.")),
      cart_activations(reg_->counter("cartd_cart_activations_total",
                                     "Carts started (recovered from the "
                                     "journal) on this node.")),
      cart_passivations(reg_->counter(
          "cartd_cart_passivations_total",
          "Carts that stopped (idle, resident cap, handover, shutdown).")),
      cart_restarts(reg_->counter("cartd_cart_restarts_total",
                                  "Carts restarted after a crash.")),
      journal_appends(reg_->counter("cartd_journal_appends_total",
                                    "Events stored by the journal.")),
      journal_commit_duration(
          reg_->histogram("cartd_journal_commit_duration_seconds",
                          "Time of one journal commit (a batch of appends).",
                          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                           0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})),
      journal_batch_size(reg_->histogram(
          "cartd_journal_batch_size", "Appends per journal commit.",
          {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      journal_errors(reg_->counter("cartd_journal_errors_total",
                                   "Journal commits that failed.")) {
  if (cluster) {
    cluster_members = &reg_->gauge("cartd_cluster_members",
                                   "Members of the cluster view installed on "
                                   "this node.");
    cluster_view = &reg_->gauge("cartd_cluster_view",
                                "Number of the cluster view installed on "
                                "this node.");
    cluster_forwarded =
        &reg_->counter("cartd_cluster_forwarded_total",
                       "Cart requests this front end sent to another node.");
    cluster_handoffs = &reg_->counter(
        "cartd_cluster_handoffs_total",
        "Carts this node released to their new owner on a view change.");
  }
}

std::shared_ptr<node_metrics> node_metrics::make(bool cluster) {
  auto reg = std::make_shared<metrics::registry>();
  auto result = std::make_shared<node_metrics>(reg, cluster);
  add_process_metrics(*reg);
  return result;
}

} // namespace cartd::metrics
