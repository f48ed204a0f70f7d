#include "bindings/cartd/cartd_config.hpp"

#include <sched.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>

#include <caf/config_option_adder.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "actors/cart/subsystem.hpp"
#include "bindings/cartd/conninfo.hpp"
#include "bindings/http/http.hpp"
#include "runtime/core/log.hpp"

namespace cartd {

namespace {

/// A schema name that needs no quoting: [a-z_][a-z0-9_]*, at most 63 bytes
/// (PostgreSQL's identifier length).
bool valid_schema_name(const std::string& x) {
  if (x.empty() || x.size() > 63 || (x[0] >= '0' && x[0] <= '9'))
    return false;
  return std::all_of(x.begin(), x.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

/// CPUs this process may run on (taskset, cpusets), at least 1.
size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

} // namespace

cartd_config::cartd_config() {
  http::server_config server_defaults;
  http_host = server_defaults.host;
  http_port = server_defaults.port;
  http_port_file = server_defaults.port_file;
  http_idle_timeout = server_defaults.idle_timeout;
  http_request_timeout = server_defaults.request_timeout;
  http_drain_timeout = server_defaults.drain_timeout;
  http_max_connections = server_defaults.max_connections;
  http_max_header_size = server_defaults.max_header_size;
  http_max_body_size = server_defaults.max_body_size;
  http_max_uri_size = server_defaults.max_uri_size;
  http_direct_writes = server_defaults.direct_writes;
  // CAF starts max(hardware threads, 4) scheduler workers and ignores the
  // affinity mask; idle workers poll (sleeping 50 us at a time), so on a
  // node pinned to one core four of them fight the I/O thread for it. One
  // worker per usable CPU, unless --scheduler.max-threads says otherwise.
  set("scheduler.max-threads", usable_cpus());
  // CAF reads a ready socket until it would block (up to 50 times), so every
  // request cost a second recv() that returned EAGAIN. A request fits in one
  // read; what is left is reported again by epoll on the next round. Halves
  // recv() calls: GET across 10k carts +5-10%, durable adds +5%.
  set("middleman.max-consecutive-reads", size_t{1});
  // CAF's default is SIZE_MAX, which its own options (int64 inside) cannot
  // hold: --dump-config printed -1 and a config file could not say it back.
  // INT64_MAX messages per run is as unlimited.
  set("scheduler.max-throughput",
      static_cast<size_t>(std::numeric_limits<int64_t>::max()));
  // An idle work-stealing worker polls its queue 100 times, then 500 times
  // with a 50 us sleep between polls (about 100 us with Linux's timer slack),
  // and only then blocks on its condition variable, where an enqueue wakes
  // it at once. In the sleeping phase a cart message waits out the sleep,
  // which is every hop at moderate load. Without the sleep the worker polls
  // for a few microseconds and then blocks. Mix at 16 connections +16%
  // (26.2k -> 30.5k req/s), one-connection adds +35%; saturated: no change.
  set("work-stealing.moderate-sleep-duration", caf::timespan{0});
  opt_group{custom_options_, "http"}
      .add(http_host, "host", "address to listen on")
      .add(http_port, "port", "port to listen on (0: any free port)")
      .add(http_port_file, "port-file",
           "write the bound port to this file once listening")
      .add(http_idle_timeout, "idle-timeout",
           "close connections idle (or sending one request) this long")
      .add(http_request_timeout, "request-timeout",
           "answer 503 when a cart does not answer within this time")
      .add(http_drain_timeout, "drain-timeout",
           "on shutdown, wait this long for in-flight requests")
      .add(http_max_connections, "max-connections",
           "open connections beyond this are refused with 503")
      .add(http_max_header_size, "max-header-size",
           "request line + headers in bytes (431 beyond)")
      .add(http_max_body_size, "max-body-size",
           "request body in bytes (413 beyond)")
      .add(http_max_uri_size, "max-uri-size",
           "request target in bytes (414 beyond)")
      .add(http_direct_writes, "direct-writes",
           "write responses straight to the socket while CAF holds nothing "
           "for the connection (--http.direct-writes=false: always through "
           "CAF's write buffer)")
      .add(http_cart_cache, "cart-cache",
           "carts whose handle and current copy the front end keeps; GETs of "
           "watched resident carts are answered from it (0: none)");
  opt_group{custom_options_, "admin"}
      .add(admin_host, "host",
           "serve the management endpoints (/metrics, /cluster, /dashboard, "
           "/openapi.json, /debug/..., also /health and /ready) on a "
           "listener of their own at this address (default: http.host); "
           "http.port then answers them with 404. Unset with admin.port: "
           "they stay on http.port")
      .add(admin_port, "port",
           "port of the management listener (0 with admin.host set: any free "
           "port)")
      .add(admin_port_file, "port-file",
           "write the management listener's bound port to this file");
  opt_group{custom_options_, "grpc"}
      .add(grpc_host, "host",
           "address of the gRPC front end (cartd.v1.Carts, health, "
           "reflection; default: http.host)")
      .add(grpc_port, "port", "port of the gRPC front end (0: none)");
  opt_group{custom_options_, "carts"}
      .add(carts_max_lines, "max-lines", "distinct item lines per cart")
      .add(carts_shards, "shards", "number of cart shard supervisors")
      .add(carts_idle_timeout, "idle-timeout",
           "passivate a cart idle this long (0s: never)")
      .add(carts_max_pending, "max-pending",
           "changes that may queue behind a cart's write (503 beyond)")
      .add(carts_max_resident, "max-resident",
           "most carts in memory (least recently used passivate; 0: no cap)");
  opt_group{custom_options_, "supervisor"}
      .add(supervisor_max_restarts, "max-restarts",
           "restarts allowed within restart-period (per cart, per supervisor)")
      .add(supervisor_restart_period, "restart-period",
           "window of the restart intensity; a cart that crashed too often "
           "stays unavailable this long");
  opt_group{custom_options_, "storage"}
      .add(storage_backend, "backend",
           "journal backend: sqlite, postgres or memory")
      .add(storage_path, "path", "directory of the SQLite journal (cartd.db)")
      .add(storage_sync, "sync",
           "full: fsync every commit (acknowledged = durable); normal; off")
      .add(storage_max_batch, "max-batch",
           "most appends per journal commit (1: no group commit)")
      .add(storage_snapshot_every, "snapshot-every",
           "store a cart snapshot every N events (0: never)")
      .add(storage_idempotency_retention, "idempotency-retention",
           "how long an Idempotency-Key is remembered")
      .add(storage_max_pages, "max-pages",
           "cap the SQLite file at this many pages (0: no cap)")
      .add(storage_cache_mib, "cache-mib", "SQLite page cache in MiB")
      .add(storage_checkpoint_pages, "checkpoint-pages",
           "checkpoint the SQLite WAL when it reaches this many pages")
      .add(storage_postgres, "postgres",
           "PostgreSQL connection string, key=value or postgresql:// URI "
           "(passwords: PGPASSWORD or ~/.pgpass)")
      .add(storage_postgres_schema, "postgres-schema",
           "the node's PostgreSQL schema (created on first start)")
      .add(storage_readers, "readers",
           "connections serving cart activations next to the writer's "
           "(PostgreSQL)")
      .add(storage_retry_for, "retry-for",
           "retry a failing commit this long before answering 503; below "
           "http.request-timeout (0s: 1s or half of it, whichever is less)")
      .add(storage_import, "import",
           "sqlite:PATH: copy the SQLite journal in PATH (a storage.path) "
           "into the PostgreSQL schema and exit");
  opt_group{custom_options_, "cluster"}
      .add(cluster_enabled, "enabled",
           "join a cluster of nodes sharing the PostgreSQL journal (needs "
           "--storage.backend=postgres)")
      .add(cluster_node, "node",
           "this node's unique name in the cluster (default: "
           "http.host:http.port)")
      .add(cluster_host, "host", "address of the node-to-node endpoint")
      .add(cluster_port, "port",
           "port of the node-to-node endpoint (0: any free port)")
      .add(cluster_lease, "lease",
           "a node that could not renew its membership this long is dead; it "
           "stops serving before that")
      .add(cluster_heartbeat, "heartbeat",
           "how often a node renews its lease and the nodes check each other "
           "(below cluster.lease)");
  opt_group{custom_options_, "cluster.tls"}
      .add(cluster_tls_certificate, "certificate",
           "this node's certificate chain (PEM), signed by cluster.tls.ca: "
           "node-to-node traffic over TLS with mutual authentication "
           "(with cluster.tls.key and cluster.tls.ca; none: plain TCP)")
      .add(cluster_tls_key, "key",
           "the private key of cluster.tls.certificate (PEM, unencrypted)")
      .add(cluster_tls_ca, "ca",
           "the cluster's CA certificate (PEM): a peer is trusted iff its "
           "certificate is signed by it (use a CA for the cluster only)");
  opt_group{custom_options_, "metrics"}.add(
      metrics_enabled, "enabled",
      "serve GET /metrics (Prometheus) and count what it shows "
      "(--metrics.enabled=false: no route, no counting)");
  opt_group{custom_options_, "process"}.add(
      process_sched_batch, "sched-batch",
      "run cartd's threads under SCHED_BATCH: a thread woken by another does "
      "not preempt it, so work is handed over in batches");
  opt_group{custom_options_, "debug"}
      .add(debug_fault_injection, "fault-injection",
           "serve POST /debug/carts/{cart}/crash (tests only)")
      .add(debug_shared_storage, "shared-storage",
           "let another process open the SQLite journal in storage.path "
           "while this node runs (tests only: two nodes on one journal serve "
           "stale carts)");
  opt_group{custom_options_, "log"}
      .add(log_level, "level", "trace, debug, info, warn, error or off")
      .add(log_format, "format",
           "text (time level message key=value...) or json (one object per "
           "line: ts, level, logger, msg and fields such as request_id)")
      .add(log_access, "access",
           "write an access log line per response (method, route, path, "
           "status, bytes, duration, node, request id)")
      .add(log_access_file, "access-file",
           "append the access log to this file instead of stdout");
  add_cartd_types(*this);
}

bool cartd_config::cluster_tls() const {
  return !cluster_tls_certificate.empty() || !cluster_tls_key.empty() ||
         !cluster_tls_ca.empty();
}

std::string cartd_config::validate_cluster() const {
  if (cluster_tls()) {
    if (!cluster_enabled)
      return "cluster.tls.* secure the traffic between cluster nodes: they "
             "need --cluster.enabled";
    if (cluster_tls_certificate.empty() || cluster_tls_key.empty() ||
        cluster_tls_ca.empty())
      return "cluster.tls.certificate, cluster.tls.key and cluster.tls.ca go "
             "together: set all three (mutual TLS) or none (plain TCP)";
  }
  if (!cluster_enabled)
    return {};
  if (storage_backend != "postgres")
    return "cluster.enabled needs --storage.backend=postgres: the nodes of a "
           "cluster share their journal and membership table in one "
           "PostgreSQL database (storage.backend is " +
           storage_backend + ")";
  if (!storage_import.empty())
    return "storage.import runs alone: drop --cluster.enabled";
  auto name = cluster_node_name();
  if (name.size() > 128)
    return "cluster.node must be at most 128 bytes";
  for (unsigned char c : name)
    if (c < 0x21 || c == 0x7f)
      return "cluster.node must not contain spaces or control characters";
  if (cluster_node.empty() && http_port == 0)
    return "cluster.node must be set when http.port is 0 (the default name "
           "is http.host:http.port)";
  if (cluster_host.empty())
    return "cluster.host must not be empty";
  if (cluster_heartbeat.count() <= 0)
    return "cluster.heartbeat must be positive";
  if (cluster_lease <= cluster_heartbeat)
    return "cluster.heartbeat must be below cluster.lease (a node renews its "
           "lease every heartbeat)";
  return {};
}

std::string cartd_config::grpc_bind_host() const {
  return grpc_host.empty() ? http_host : grpc_host;
}

bool cartd_config::admin_listener() const {
  return !admin_host.empty() || admin_port != 0;
}

std::string cartd_config::admin_bind_host() const {
  return admin_host.empty() ? http_host : admin_host;
}

std::string cartd_config::cluster_node_name() const {
  if (!cluster_node.empty())
    return cluster_node;
  return http_host + ":" + std::to_string(http_port);
}

caf::timespan cartd_config::retry_for() const {
  if (storage_retry_for.count() > 0)
    return storage_retry_for;
  return std::min(caf::timespan{std::chrono::seconds{1}},
                  http_request_timeout / 2);
}

std::string cartd_config::validate() const {
  // CAF falls back to 'stealing' with a warning on anything else ('testing'
  // would run no actor at all).
  auto policy = caf::get_or(content, "scheduler.policy", caf::atom("stealing"));
  if (policy != caf::atom("stealing") && policy != caf::atom("sharing"))
    return "scheduler.policy must be stealing or sharing, not " +
           caf::to_string(policy);
  if (storage_backend != "memory" && storage_backend != "sqlite" &&
      storage_backend != "postgres")
    return "storage.backend must be sqlite, postgres or memory, not " +
           storage_backend;
  if (!valid_conninfo(storage_postgres))
    return "storage.postgres is not a connection string libpq accepts "
           "(key=value pairs or a postgresql:// URI): " +
           mask_password(storage_postgres);
  if (!valid_schema_name(storage_postgres_schema))
    return "storage.postgres-schema must be 1 to 63 lower-case letters, "
           "digits or underscores, starting with a letter or underscore, "
           "not " +
           storage_postgres_schema;
  if (storage_retry_for.count() < 0)
    return "storage.retry-for must not be negative";
  if (storage_retry_for >= http_request_timeout)
    return "storage.retry-for must be below http.request-timeout (no request "
           "waits longer than the request timeout)";
  if (!storage_import.empty()) {
    if (storage_import.rfind("sqlite:", 0) != 0 || storage_import.size() == 7)
      return "storage.import must be sqlite:PATH (the storage.path of a "
             "SQLite node), not " +
             storage_import;
    if (storage_backend != "postgres")
      return "storage.import copies into PostgreSQL: it needs "
             "--storage.backend=postgres";
  }
  if (storage_sync != "full" && storage_sync != "normal" &&
      storage_sync != "off")
    return "storage.sync must be full, normal or off, not " + storage_sync;
  if (storage_max_batch == 0)
    return "storage.max-batch must be at least 1";
  if (storage_checkpoint_pages == 0)
    return "storage.checkpoint-pages must be at least 1";
  if (storage_path.empty())
    return "storage.path must not be empty";
  if (carts_shards == 0)
    return "carts.shards must be at least 1";
  if (carts_max_lines == 0)
    return "carts.max-lines must be at least 1";
  if (http_max_connections == 0)
    return "http.max-connections must be at least 1";
  if (http_request_timeout.count() <= 0)
    return "http.request-timeout must be positive";
  if (http_idle_timeout.count() <= 0)
    return "http.idle-timeout must be positive";
  if (supervisor_restart_period.count() <= 0)
    return "supervisor.restart-period must be positive";
  if (grpc_port != 0 && grpc_port == http_port && grpc_bind_host() == http_host)
    return "grpc.port must differ from http.port";
  if (!admin_listener() && !admin_port_file.empty())
    return "admin.port-file needs the management listener: set admin.host "
           "or admin.port";
  if (admin_listener() && admin_port != 0 && admin_port == http_port &&
      admin_bind_host() == http_host)
    return "admin.port must differ from http.port (the management endpoints "
           "on the public port: leave admin.host and admin.port unset)";
  if (auto problem = validate_cluster(); !problem.empty())
    return problem;
  return validate_log();
}

std::string cartd_config::validate_log() const {
  auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off")
    return "log.level must be trace, debug, info, warn, error or off";
  cartd::log_format format;
  if (!parse_log_format(log_format, format))
    return "log.format must be text or json, not '" + log_format + "'";
  return {};
}

} // namespace cartd
