// cartd: one node of the cart service.
//
// The process: parse and validate the configuration, start the node's
// supervision tree, then wait. SIGTERM/SIGINT stop the root supervisor in
// order (the HTTP server drains first); the process exits 0 once the tree is
// down, 1 if the tree died on its own or the journal cannot be opened, 2 for
// bad configuration. SIGHUP reopens --log.access-file (logrotate). Under
// systemd (Type=notify, $NOTIFY_SOCKET) it says READY=1 once the node
// serves and STOPPING=1 when a stop signal arrives. With
// --storage.import=sqlite:PATH it copies that SQLite journal into PostgreSQL
// instead and exits (0: copied, 1: refused or failed; nothing was stored then).
//
// In cluster mode (--cluster.enabled) SIGTERM is a graceful leave first: the
// router marks this node leaving and hands its carts over (bounded by twice
// the lease), then the tree stops as above (HTTP drains while the front end
// forwards to the new owners; the router's stop deletes the member row).

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cart/protocol/cart_router.hpp"
#include "bindings/cartd/cartd_config.hpp"
#include "bindings/cartd/cluster_node.hpp"
#include "bindings/cartd/descriptor_limit.hpp"
#include "bindings/cartd/listener.hpp"
#include "bindings/cartd/logging.hpp"
#include "bindings/cartd/node.hpp"
#include "bindings/cartd/service_manager.hpp"
#include "bindings/grpc/grpc_server.hpp"
#include "runtime/cluster/peer_links.hpp"
#include "runtime/cluster/postgres/pg_member_store.hpp"
#include "runtime/cluster/tls_credentials.hpp"
#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"
#include "runtime/journal/postgres/pg_import.hpp"

// CARTD_VERSION: the project's version and `git describe` of the sources
// at build time (bindings/cartd/version.cmake).
#include "cartd_version.hpp"

namespace {

sigset_t handled_signals() {
  sigset_t result;
  sigemptyset(&result);
  sigaddset(&result, SIGTERM);
  sigaddset(&result, SIGINT);
  sigaddset(&result, SIGHUP);
  sigaddset(&result, SIGUSR1); // wakes the signal thread at exit
  return result;
}

/// Waits for a signal that ends the wait: SIGTERM or SIGINT (stop the node),
/// SIGUSR1 (the node stopped on its own). SIGHUP reopens the log files, as
/// nginx's USR1 and most daemons' HUP do for logrotate, and waits on.
int wait_for_stop_signal(const sigset_t& signals) {
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP)
      return sig;
    cartd::log().info("received SIGHUP: {}", cartd::reopen_log_files());
  }
}

} // namespace

int main(int argc, char** argv) {
  // Block the handled signals before CAF starts its threads, so that only
  // the signal thread below ever receives them.
  auto signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  cartd::cartd_config cfg;
  cfg.load<caf::io::middleman>();
  if (auto problem = cfg.parse_args(argc, argv); !problem.empty()) {
    std::cerr << "cartd: " << problem << "\n";
    return 2;
  }
  if (cfg.requested == cartd::cartd_config::action::help) {
    std::cout << cfg.help_text();
    return 0;
  }
  if (cfg.requested == cartd::cartd_config::action::version) {
    std::cout << "cartd " << CARTD_VERSION << "\n";
    return 0;
  }
  if (auto problem = cfg.validate(); !problem.empty()) {
    std::cerr << "cartd: " << problem << "\n";
    return 2;
  }
  if (cfg.requested == cartd::cartd_config::action::dump_config) {
    std::cout << cfg.dump_text();
    return 0;
  }
  // Checked before anything starts: CAF's openssl module aborts the process
  // on a bad file much later (on a connection).
  std::optional<cartd::tls_credentials> tls;
  if (cfg.cluster_tls()) {
    std::string problem;
    tls = cartd::tls_credentials::load(cfg.cluster_tls_certificate,
                                       cfg.cluster_tls_key, cfg.cluster_tls_ca,
                                       problem);
    if (!tls) {
      std::cerr << "cartd: " << problem << "\n";
      return 2;
    }
  }
  if (auto problem = cartd::configure_logging(cfg); !problem.empty()) {
    std::cerr << "cartd: " << problem << "\n";
    return 2;
  }
  auto& log = cartd::log();
  log.info("cartd {} starting: http {}:{}, storage {}{}, {} shards, "
           "max-lines {}, idle-timeout {} ms, fault-injection {}",
           CARTD_VERSION, cfg.http_host, cfg.http_port, cfg.storage_backend,
           cartd::storage_summary(cfg), cfg.carts_shards, cfg.carts_max_lines,
           std::chrono::duration_cast<std::chrono::milliseconds>(
               cfg.carts_idle_timeout)
               .count(),
           cfg.debug_fault_injection);
  if (auto fds = cartd::size_descriptors(cfg.http_max_connections);
      !fds.warning.empty()) {
    log.warn("{}", fds.warning);
    cfg.http_max_connections = fds.max_connections;
  } else if (fds.soft_after != fds.soft_before) {
    log.info("descriptor limit (RLIMIT_NOFILE) raised from {} to {} for "
             "http.max-connections={}",
             fds.soft_before, fds.soft_after, cfg.http_max_connections);
  }
  if (cfg.process_sched_batch) {
    // Before CAF starts its threads: they inherit the policy. Under the
    // default policy a thread that wakes another (the I/O thread handing a
    // request to a cart, the journal answering a commit) is preempted on the
    // spot, so on a busy core every hand-over was a context switch and
    // nothing batched. SCHED_BATCH keeps the waker running until it blocks;
    // on one core the 80/20 mix went from 39k to 50k req/s, p99 6.8 -> 6.2 ms.
    sched_param param{};
    if (sched_setscheduler(0, SCHED_BATCH, &param) != 0)
      log.warn("cannot switch to SCHED_BATCH ({}); running under the default "
               "scheduling policy",
               std::strerror(errno));
  }
  if (!cfg.storage_import.empty()) {
    // validate() checked the form: "sqlite:PATH".
    auto dir = cfg.storage_import.substr(std::string_view{"sqlite:"}.size());
    auto summary = cartd::import_sqlite_journal(dir, cartd::pg_options_of(cfg));
    if (!summary) {
      log.error("import failed: {}", cartd::message_of(summary.error()));
      return 1;
    }
    auto line = "imported " + std::to_string(summary->streams) + " streams, " +
                std::to_string(summary->events) + " events, " +
                std::to_string(summary->snapshots) + " snapshots, " +
                std::to_string(summary->keys) + " idempotency keys from " +
                dir + " into PostgreSQL" + cartd::storage_summary(cfg);
    log.info("{}", line);
    std::cout << line << std::endl;
    return 0;
  }
  auto cluster = cartd::make_cluster_parts(cfg);
  if (cluster)
    cluster.transport =
        cartd::transport_name(tls ? &tls->ca_fingerprint() : nullptr);
  // The public port first: a taken port is reported before the data
  // directory is created or a journal opened.
  auto listener = cartd::listen_on(cfg.http_host, cfg.http_port);
  if (listener.fd < 0) {
    log.error("{}", listener.problem);
    return 1;
  }
  cfg.http_listen_fd = listener.fd;
  auto backend = cartd::open_journal_backend(cfg, cluster);
  if (!backend) {
    log.error("cannot open the journal: {}",
              cartd::message_of(backend.error()));
    return 1;
  }
  if (cluster) {
    if (auto err = cartd::open_member_store(cfg, cluster)) {
      log.error("cannot open the membership table: {}", cartd::message_of(err));
      return 1;
    }
    cartd::configure_middleman(cfg, cfg.cluster_heartbeat, cfg.cluster_lease);
    if (tls) {
      cartd::configure_tls(cfg, tls->certificate_path(), tls->key_path(),
                           tls->ca_path());
      log.info("cluster node {}: node-to-node traffic over TLS with mutual "
               "authentication: certificate {}, trusting only peers whose "
               "certificate cluster.tls.ca {} ({}) signed",
               cfg.cluster_node_name(), tls->subject(), cfg.cluster_tls_ca,
               tls->ca_fingerprint());
    } else {
      log.warn("cluster node {}: node-to-node traffic in plain TCP, neither "
               "encrypted nor authenticated: anyone who reaches its "
               "node-to-node port on {} can talk to this node "
               "(--cluster.tls.certificate, --cluster.tls.key and "
               "--cluster.tls.ca: mutual TLS)",
               cfg.cluster_node_name(), cfg.cluster_host);
    }
    log.info(
        "cluster node {}: node-to-node endpoint {}:{}, lease {} ms, "
        "heartbeat {} ms",
        cfg.cluster_node_name(), cfg.cluster_host, cfg.cluster_port,
        std::chrono::duration_cast<std::chrono::milliseconds>(cfg.cluster_lease)
            .count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(
            cfg.cluster_heartbeat)
            .count());
  }
  int exit_code = 0;
  {
    caf::actor_system sys{cfg};
    // --grpc.port: the gRPC front end (bindings/grpc). Its calls go to the
    // bridge the tree starts (child "grpc"), through the slot; declared
    // after `sys`, it stops before the actor system does.
    auto grpc_slot = cfg.grpc_port != 0
                         ? std::make_shared<cartd::grpc_bridge_slot>()
                         : nullptr;
    std::unique_ptr<cartd::grpc_front_end> grpc;
    if (grpc_slot) {
      cartd::grpc_server_settings settings;
      settings.host = cfg.grpc_bind_host();
      settings.port = cfg.grpc_port;
      settings.max_message_size = cfg.http_max_body_size;
      std::string problem;
      grpc = cartd::grpc_front_end::start(settings, grpc_slot, problem);
      if (!grpc) {
        log.error("{}", problem);
        return 1;
      }
      log.info("gRPC front end on {}:{} (cartd.v1.Carts, health, reflection)",
               settings.host, grpc->port());
    }
    // Under systemd (Type=notify): READY=1 once the node serves. GET /ready
    // answers 503 "draining" from SIGTERM on: during a cluster node's leave
    // (it still serves) and while HTTP drains.
    auto stopping = std::make_shared<std::atomic<bool>>(false);
    auto root = cartd::start_node(
        sys, cfg, std::move(*backend), cluster,
        [](const std::string& status) { cartd::notify_ready(status); },
        stopping, grpc_slot);
    auto leave_bound = 2 * cfg.cluster_lease;
    auto* grpc_server = grpc.get();
    auto grpc_grace = std::chrono::duration_cast<std::chrono::milliseconds>(
        cfg.http_drain_timeout);
    std::thread signal_thread{[&signals, &sys, root, cluster, leave_bound,
                               stopping, grpc_server, grpc_grace] {
      int sig = wait_for_stop_signal(signals);
      if (sig == SIGUSR1)
        return;
      stopping->store(true, std::memory_order_relaxed);
      cartd::log().info("received {}; shutting down", strsignal(sig));
      cartd::notify_stopping(cluster ? "leaving the cluster, then draining"
                                     : "draining");
      if (auto router = cluster ? cluster.router->get() : caf::actor{}) {
        // Graceful leave: hand the carts over before HTTP drains.
        caf::scoped_actor self{sys};
        self->request(caf::actor_cast<cartd::cart_router_actor>(router),
                      leave_bound, cartd::leave_atom::value)
            .receive(
                [](bool done) {
                  if (done)
                    cartd::log().info("left the cluster: carts handed over");
                  else
                    cartd::log().warn("leaving the cluster: not every cart "
                                      "was handed over in time");
                },
                [](caf::error& err) {
                  cartd::log().warn("leaving the cluster: {}", to_string(err));
                });
      }
      // gRPC calls in flight finish (streams end UNAVAILABLE) while the
      // carts still answer.
      if (grpc_server != nullptr)
        grpc_server->stop(grpc_grace);
      caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    }};
    caf::scoped_actor self{sys};
    self->monitor(root);
    self->receive([&](caf::down_msg& down) {
      if (down.reason == caf::exit_reason::user_shutdown) {
        log.info("stopped");
      } else {
        log.error("node stopped: {}", sys.render(down.reason));
        exit_code = 1;
      }
    });
    pthread_kill(signal_thread.native_handle(), SIGUSR1);
    signal_thread.join();
  }
  return exit_code;
}
