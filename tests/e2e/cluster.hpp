#pragma once

// N cartd nodes in cluster mode on one throwaway PostgreSQL server, for the
// e2e_cluster suite: each node on ephemeral HTTP and node-to-node ports,
// named n0, n1, ..., journaling to one schema per cluster (the membership
// table lives there too, so each test case is a cluster of its own).

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e.hpp"
#include "tests/support/postgres_server.hpp"

namespace cartd::test {

/// The PostgreSQL server of the test binary.
inline postgres_server& cluster_db() {
  static postgres_server instance;
  return instance;
}

/// The name a node sent as Cartd-Node ("" without the header).
inline std::string answered_by(const http_response& res) {
  auto i = res.find("Cartd-Node");
  return i == res.end() ? std::string{} : std::string{i->value()};
}

/// --cluster.lease and --cluster.heartbeat of a test cluster.
struct cluster_timing {
  std::string lease;
  std::string heartbeat;
};

class test_cluster {
public:
  /// Lease and heartbeat of the test clusters: short, so a dead node is
  /// noticed in about a second and a half.
  static constexpr const char* lease = "1500ms";
  static constexpr const char* heartbeat = "300ms";

  /// The port file of each node's management listener when `extra` holds
  /// `--admin.port-file=` this (with `--admin.port=0`).
  static constexpr const char* admin_port_file = "admin-port";

  /// Starts `n` nodes journaling to `schema` and waits until they formed
  /// one cluster. With `--admin.port-file=admin-port` in `extra`, /cluster
  /// and /ready are asked on each node's management listener.
  explicit test_cluster(std::string schema, int n,
                        std::vector<std::string> extra = {},
                        cluster_timing timing = {lease, heartbeat})
      : schema_(std::move(schema)), extra_(std::move(extra)),
        timing_(std::move(timing)) {
    for (auto& x : extra_)
      if (x == std::string{"--admin.port-file="} + admin_port_file)
        admin_ = true;
    for (int i = 0; i < n; ++i)
      add();
    BOOST_REQUIRE_MESSAGE(wait_formed(30s), "the cluster did not form");
  }

  /// Options of node `name`.
  std::vector<std::string> args(const std::string& name) const {
    std::vector<std::string> result{
        "--storage.backend=postgres",
        "--storage.postgres=" + cluster_db().conninfo(),
        "--storage.postgres-schema=" + schema_,
        "--cluster.enabled",
        "--cluster.node=" + name,
        std::string{"--cluster.lease="} + timing_.lease,
        std::string{"--cluster.heartbeat="} + timing_.heartbeat,
        "--http.request-timeout=5s"};
    result.insert(result.end(), extra_.begin(), extra_.end());
    return result;
  }

  /// Starts one more node (n<count>) and returns its index.
  size_t add() {
    auto name = "n" + std::to_string(nodes_.size());
    nodes_.push_back(std::make_unique<test_node>(args(name)));
    admin_ports_.push_back(
        admin_ ? nodes_.back()->proc().wait_port_file(admin_port_file) : 0);
    names_.push_back(name);
    alive_.push_back(true);
    return nodes_.size() - 1;
  }

  test_node& node(size_t i) { return *nodes_[i]; }

  uint16_t port(size_t i) const { return nodes_[i]->port(); }

  /// The port of node `i`'s management endpoints: its management listener's
  /// (see the constructor), else its public port.
  uint16_t management_port(size_t i) const {
    return admin_ ? admin_ports_[i] : port(i);
  }

  const std::string& name(size_t i) const { return names_[i]; }

  size_t size() const noexcept { return nodes_.size(); }

  /// Node `i` was stopped or killed: wait_formed no longer expects it.
  void gone(size_t i) { alive_[i] = false; }

  /// Names of the nodes still expected to run.
  std::set<std::string> alive_names() const {
    std::set<std::string> result;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (alive_[i])
        result.insert(names_[i]);
    return result;
  }

  /// Whether every running node's GET /cluster shows exactly the running
  /// nodes, all "up", and its /ready answers 200.
  bool formed() {
    auto expected = alive_names();
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!alive_[i])
        continue;
      try {
        if (http_call(management_port(i), "GET", "/ready").result_int() != 200u)
          return false;
        auto res = http_call(management_port(i), "GET", "/cluster");
        if (res.result_int() != 200u)
          return false;
        auto body = json::parse(res.body());
        std::set<std::string> seen;
        for (auto& m : body["members"]) {
          if (m["status"] != "up")
            return false;
          seen.insert(m["name"].get<std::string>());
        }
        if (seen != expected)
          return false;
      } catch (const std::exception&) {
        return false;
      }
    }
    return true;
  }

  /// Polls formed() until it holds or `bound` passes.
  bool wait_formed(std::chrono::milliseconds bound) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (formed())
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

private:
  std::string schema_;
  std::vector<std::string> extra_;
  cluster_timing timing_;
  std::vector<std::unique_ptr<test_node>> nodes_;
  bool admin_ = false;
  std::vector<uint16_t> admin_ports_;
  std::vector<std::string> names_;
  std::vector<bool> alive_;
};

} // namespace cartd::test
