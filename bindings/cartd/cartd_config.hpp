#pragma once

// Every option of a cartd node, in CAF's configuration. Each is read from,
// in this order, each overriding the one before: its default, the config
// file (`--config-file`, CARTD_CONFIG_FILE, else caf-application.ini if
// there is one: `[http]` and `port=8080`, strings in double quotes), the
// environment (`CARTD_HTTP_PORT=8080`) and the command line
// (`--http.port=8080`). `cartd --help` lists them with their defaults and
// variables. An unknown option, variable or config file entry, a value of
// the wrong form and a CAF option cartd does not honour are refused with a
// message naming where it was written and what is expected.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

namespace cartd {

namespace http {
class exchange_observer;
} // namespace http

class cartd_config : public caf::actor_system_config {
public:
  cartd_config();

  /// What the command line asked for besides running the node.
  enum class action { run, help, version, dump_config };

  /// Reads the configuration file, the environment's CARTD_* variables
  /// (`env`: NAME=VALUE strings; default: the process's) and the command
  /// line, in that order of precedence from lowest. Returns the first
  /// problem in words, naming the argument, variable or file and line, the
  /// option and the value, or an empty string. Sets `requested`.
  std::string parse_args(int argc, char** argv);
  std::string parse_args(int argc, char** argv,
                         const std::vector<std::string>& env);

  /// Set by parse_args: --help, --version or --dump-config, else run.
  action requested = action::run;

  /// Every option cartd honours, with its variable, default and meaning.
  std::string help_text() const;

  /// The effective configuration as a config file (--dump-config): every
  /// option cartd honours, passwords masked. Reads back to the same values.
  std::string dump_text() const;

  /// Returns a description of the first problem, or an empty string.
  std::string validate() const;

  /// The cluster options' problem, or an empty string (part of validate).
  std::string validate_cluster() const;

  /// How long the journal retries a failing commit: storage.retry-for, or
  /// when that is 0 the smaller of 1 s and half of http.request-timeout, so
  /// that a change gets its 503 before the request times out.
  caf::timespan retry_for() const;

  /// The effective configuration (dump_text): every option cartd honours
  /// with its value, the password of storage.postgres masked.
  caf::settings dump_content() const override;

  // -- http -------------------------------------------------------------------

  // The server's options; their defaults are http::server_config's.
  std::string http_host;
  uint16_t http_port = 0;
  std::string http_port_file;
  caf::timespan http_idle_timeout{};
  caf::timespan http_request_timeout{};
  caf::timespan http_drain_timeout{};
  size_t http_max_connections = 0;
  size_t http_max_header_size = 0;
  size_t http_max_body_size = 0;
  size_t http_max_uri_size = 0;
  bool http_direct_writes = true;
  size_t http_cart_cache = 128 * 1024;

  // -- admin ------------------------------------------------------------------

  // The management endpoints' own listener (admin_listener()): unset (host
  // empty, port 0) they stay on http.port. Host empty: http.host.
  std::string admin_host;
  uint16_t admin_port = 0;
  std::string admin_port_file;

  /// Whether the management endpoints have a listener of their own
  /// (admin.host or admin.port set); the public port then answers 404.
  bool admin_listener() const;

  /// Where the management listener binds: admin.host, else http.host.
  std::string admin_bind_host() const;

  // -- grpc -------------------------------------------------------------------

  // The gRPC front end (bindings/grpc): none while grpc.port is 0, the
  // default. Host empty: http.host.
  std::string grpc_host;
  uint16_t grpc_port = 0;

  /// Where the gRPC front end binds: grpc.host, else http.host.
  std::string grpc_bind_host() const;

  // -- carts ------------------------------------------------------------------

  size_t carts_max_lines = 1000;
  size_t carts_shards = 4;
  caf::timespan carts_idle_timeout = caf::timespan{std::chrono::seconds{120}};
  size_t carts_max_pending = 128;
  size_t carts_max_resident = 0;

  // -- supervisor -------------------------------------------------------------

  size_t supervisor_max_restarts = 3;
  caf::timespan supervisor_restart_period =
      caf::timespan{std::chrono::seconds{5}};

  // -- storage ----------------------------------------------------------------

  std::string storage_backend = "sqlite";
  std::string storage_path = "./data";
  std::string storage_sync = "full";
  size_t storage_max_batch = 512;
  size_t storage_snapshot_every = 100;
  caf::timespan storage_idempotency_retention =
      caf::timespan{std::chrono::hours{24}};
  int64_t storage_max_pages = 0;
  size_t storage_cache_mib = 64;
  size_t storage_checkpoint_pages = 16384;
  // libpq connection string (key=value or URI); passwords are masked in
  // --dump-config and never logged.
  std::string storage_postgres;
  std::string storage_postgres_schema = "cartd";
  size_t storage_readers = 4;
  // 0: the smaller of 1 s and half of http.request-timeout (retry_for()).
  caf::timespan storage_retry_for = caf::timespan{0};
  // "sqlite:PATH": copy that SQLite journal into PostgreSQL, then exit.
  std::string storage_import;

  // -- cluster ----------------------------------------------------------------

  bool cluster_enabled = false;
  // Empty: http.host:http.port (cluster_node_name()).
  std::string cluster_node;
  std::string cluster_host = "127.0.0.1";
  uint16_t cluster_port = 0;
  caf::timespan cluster_lease = caf::timespan{std::chrono::seconds{2}};
  caf::timespan cluster_heartbeat =
      caf::timespan{std::chrono::milliseconds{500}};
  // Mutual TLS between the nodes (all three or none): this node's
  // certificate chain and its private key (PEM, unencrypted), and the
  // cluster's CA certificate(s), the only issuer a peer is trusted for.
  std::string cluster_tls_certificate;
  std::string cluster_tls_key;
  std::string cluster_tls_ca;

  /// Whether the cluster.tls options are set (validate: all three or none).
  bool cluster_tls() const;

  /// This node's name in the cluster: cluster.node, or http.host:http.port
  /// when that is empty.
  std::string cluster_node_name() const;

  // -- metrics ----------------------------------------------------------------

  // GET /metrics and the instruments behind it (false: no route, nothing
  // counted).
  bool metrics_enabled = true;

  // -- process ----------------------------------------------------------------

  bool process_sched_batch = true;

public:
  // -- debug and logging
  // --------------------------------------------------------

  bool debug_fault_injection = false;
  // Tests only: a second node may open the SQLite journal of storage.path
  // (two nodes on one journal serve stale carts; tests of the read cache use
  // one as a writer the first node never hears of).
  bool debug_shared_storage = false;
  std::string log_level = "info";

  // -- logs (formats, access log) ---------------------------------------------

  // "text" or "json" (runtime/core/log.hpp).
  std::string log_format = "text";
  // One line per response (bindings/http/access_log.hpp), to stdout unless
  // log.access-file names a file (appended to).
  bool log_access = false;
  std::string log_access_file;

  /// The log options' problem, or an empty string (part of validate).
  std::string validate_log() const;

private:
  struct setting;

  /// Reads and checks the config file, then has CAF apply it.
  std::string apply_config_file(const std::string& path, bool named);

  /// Applies an option set in the environment or on the command line.
  std::string apply(const setting& x);

  /// The options cartd honours, in declaration order.
  std::vector<const caf::config_option*> shown_options() const;

public:
  /// The access log, once configure_logging (bindings/cartd/logging.hpp)
  /// opened it: null when log.access is off. Not an option.
  std::shared_ptr<http::exchange_observer> access_log;

  /// The public HTTP socket main bound before opening the journal
  /// (listener.hpp), served by the HTTP server's first start; -1: the server
  /// binds http.host:http.port itself. Not an option.
  int http_listen_fd = -1;
};

} // namespace cartd
