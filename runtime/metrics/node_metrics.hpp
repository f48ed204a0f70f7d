#pragma once

// The instruments of a cartd node, registered once with their names, help
// texts, labels and buckets; the components that feed them get a
// shared_ptr<node_metrics> through their settings (null: metrics off, and
// nothing is counted).
//
//   family / metric                           type       labels
//   cartd_http_requests_total                 counter    method, route, status
//   cartd_http_request_duration_seconds       histogram  route
//   cartd_http_connections                    gauge
//   cartd_carts_resident                      gauge
//   cartd_cart_activations_total              counter
//   cartd_cart_passivations_total             counter
//   cartd_cart_restarts_total                 counter
//   cartd_journal_appends_total               counter
//   cartd_journal_commit_duration_seconds     histogram
//   cartd_journal_batch_size                  histogram
//   cartd_journal_errors_total                counter
//   cartd_cluster_members                     gauge      (cluster mode)
//   cartd_cluster_view                        gauge      (cluster mode)
//   cartd_cluster_forwarded_total             counter    (cluster mode)
//   cartd_cluster_handoffs_total              counter    (cluster mode)
//   process_*                                 (process_metrics.hpp)

#include <memory>

#include "runtime/metrics/registry.hpp"

namespace cartd::metrics {

/// Every instrument of a node, in one registry.
class node_metrics {
public:
  /// Registers the instruments in `reg`; the cluster ones only when
  /// `cluster` (they stay null otherwise).
  node_metrics(std::shared_ptr<metrics::registry> reg, bool cluster);

  /// A node's metrics in a registry of their own, with the process metrics.
  static std::shared_ptr<node_metrics> make(bool cluster);

  metrics::registry& registry() const noexcept { return *reg_; }

private:
  std::shared_ptr<metrics::registry> reg_;

public:
  // -- HTTP (bindings/http/http_metrics.hpp) ----------------------------------

  family<counter>& http_requests;
  family<histogram>& http_request_duration;
  gauge& http_connections;

  // -- carts (actors/cart/directory) ------------------------------------------

  gauge& carts_resident;
  counter& cart_activations;
  /// Carts that stopped by themselves: idle, over the resident cap, handed
  /// over to another node, or at shutdown.
  counter& cart_passivations;
  counter& cart_restarts;

  // -- journal (runtime/journal) ----------------------------------------------

  /// Appends committed (stored).
  counter& journal_appends;
  histogram& journal_commit_duration;
  histogram& journal_batch_size;
  /// Commit attempts that failed (retried or given up).
  counter& journal_errors;

  // -- cluster (actors/cart/cluster, bindings/cart_http); null outside ------

  gauge* cluster_members = nullptr;
  gauge* cluster_view = nullptr;
  /// Requests this front end sent to a cart on another node.
  counter* cluster_forwarded = nullptr;
  /// Carts this node released to their new owner on a view change.
  counter* cluster_handoffs = nullptr;
};

} // namespace cartd::metrics
