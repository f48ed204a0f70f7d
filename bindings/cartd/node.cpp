#include "bindings/cartd/node.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>

#include "actors/cart/protocol/cart_router.hpp"
#include "actors/cart/subsystem.hpp"
#include "bindings/admin/admin_routes.hpp"
#include "bindings/admin/dashboard.hpp"
#include "bindings/cart_http/cart_routes.hpp"
#include "bindings/cartd/conninfo.hpp"
#include "bindings/grpc/grpc_bridge.hpp"
#include "bindings/http/http_metrics.hpp"
#include "bindings/http/server.hpp"
#include "bindings/openapi/openapi_document.hpp"
#include "runtime/core/log.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"
#include "runtime/journal/sqlite_journal.hpp"
#include "runtime/metrics/node_metrics.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd {

namespace {

/// Calls `serving` once `router` says this node serves carts (joined, with
/// a valid lease; the router's first push says so at once if it already
/// does), then quits; quits with the router too, so it never outlives the
/// tree.
void when_router_serves(caf::event_based_actor* parent,
                        cart_router_actor router, std::string http,
                        std::function<void()> serving) {
  parent->spawn([router, http, serving](caf::event_based_actor* self) {
    self->monitor(router);
    self->set_down_handler([self](caf::down_msg&) { self->quit(); });
    self->send(router, subscribe_atom::value, caf::actor_cast<caf::actor>(self),
               http);
    return caf::behavior{
        [self, serving](view_atom, const cluster_state& state) {
          if (!state.serving)
            return;
          serving();
          self->quit();
        },
        [](peer_down_atom, const caf::node_id&) {},
    };
  });
}

supervision::intensity intensity_of(const cartd_config& cfg) {
  supervision::intensity result;
  result.max_restarts = cfg.supervisor_max_restarts;
  result.period = cfg.supervisor_restart_period;
  return result;
}

} // namespace

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return to_string(err);
}

pg_options pg_options_of(const cartd_config& cfg,
                         std::shared_ptr<const journal_fence> fence) {
  pg_options result;
  result.conninfo = cfg.storage_postgres;
  result.schema = cfg.storage_postgres_schema;
  result.fence = std::move(fence);
  return result;
}

std::string storage_summary(const cartd_config& cfg) {
  if (cfg.storage_backend == "sqlite")
    return " at " + cfg.storage_path + " (sync " + cfg.storage_sync + ")";
  if (cfg.storage_backend == "postgres") {
    auto where = describe_conninfo(cfg.storage_postgres);
    return " at " + (where.empty() ? "libpq's defaults" : where) +
           " schema=" + cfg.storage_postgres_schema;
  }
  return {};
}

caf::expected<std::shared_ptr<journal_backend>>
open_journal_backend(const cartd_config& cfg, const cluster_parts& cluster) {
  if (cfg.storage_backend == "memory")
    return std::make_shared<memory_journal>();
  if (cfg.storage_backend == "postgres") {
    auto db = pg_journal::open(pg_options_of(cfg, cluster.fence));
    if (!db)
      return std::move(db.error());
    return std::shared_ptr<journal_backend>{std::move(*db)};
  }
  sqlite_options opts;
  opts.sync = cfg.storage_sync;
  opts.max_page_count = cfg.storage_max_pages;
  opts.cache_mib = static_cast<int64_t>(cfg.storage_cache_mib);
  opts.checkpoint_pages = static_cast<int64_t>(cfg.storage_checkpoint_pages);
  opts.exclusive = !cfg.debug_shared_storage;
  auto db = sqlite_journal::open(cfg.storage_path, opts);
  if (!db)
    return std::move(db.error());
  return std::shared_ptr<journal_backend>{std::move(*db)};
}

caf::actor start_node(caf::actor_system& sys, const cartd_config& cfg,
                      std::shared_ptr<journal_backend> backend,
                      cluster_parts cluster,
                      std::function<void(const std::string&)> serving,
                      std::shared_ptr<const std::atomic<bool>> stopping,
                      std::shared_ptr<grpc_bridge_slot> grpc) {
  log().info("journal backend: {}{}", backend->name(), storage_summary(cfg));
  // The journal actor sets it; GET /ready reads it (503 while the store is
  // unavailable).
  auto health = std::make_shared<journal_health>();
  // Null with --metrics.enabled=false: nothing counts, no GET /metrics.
  auto metrics = cfg.metrics_enabled
                     ? metrics::node_metrics::make(static_cast<bool>(cluster))
                     : nullptr;
  cart_subsystem_settings subsystem;
  subsystem.journal.max_batch = cfg.storage_max_batch;
  subsystem.journal.retry_for = cfg.retry_for();
  subsystem.journal.readers = cfg.storage_readers;
  subsystem.journal.health = health;
  subsystem.journal.metrics = metrics;
  auto& carts = subsystem.carts;
  carts.limits.max_lines = cfg.carts_max_lines;
  carts.idle_timeout = cfg.carts_idle_timeout;
  carts.journal_timeout = cfg.http_request_timeout;
  carts.max_pending = cfg.carts_max_pending;
  carts.fault_injection = cfg.debug_fault_injection;
  carts.snapshot_every = cfg.storage_snapshot_every;
  carts.idempotency_retention = cfg.storage_idempotency_retention;
  carts.lease = cluster.lease;
  auto& directory = subsystem.directory;
  directory.shards = cfg.carts_shards;
  directory.shard_intensity = intensity_of(cfg);
  directory.cart_intensity = intensity_of(cfg);
  directory.unavailable_for = cfg.supervisor_restart_period;
  directory.max_resident = cfg.carts_max_resident;
  directory.metrics = metrics;
  http::server_config server;
  server.host = cfg.http_host;
  server.port = cfg.http_port;
  server.port_file = cfg.http_port_file;
  server.idle_timeout = cfg.http_idle_timeout;
  server.request_timeout = cfg.http_request_timeout;
  server.drain_timeout = cfg.http_drain_timeout;
  server.max_connections = cfg.http_max_connections;
  server.max_header_size = cfg.http_max_header_size;
  server.max_body_size = cfg.http_max_body_size;
  server.max_uri_size = cfg.http_max_uri_size;
  server.direct_writes = cfg.http_direct_writes;
  if (metrics)
    server.observers.push_back(
        std::make_shared<http::metrics_observer>(metrics));
  if (cfg.access_log) // --log.access (bindings/cartd/logging.cpp)
    server.observers.push_back(cfg.access_log);
  cart_routes_settings routes;
  routes.cache_size = cfg.http_cart_cache;
  routes.journal_available =
      std::shared_ptr<const std::atomic<bool>>{health, &health->available};
  routes.stopping = std::move(stopping);
  routes.node_name = cfg.cluster_node_name();
  routes.lease = cluster.lease;
  routes.request_timeout = cfg.http_request_timeout;
  routes.metrics = metrics;
  auto children = cart_subsystem_specs(std::move(backend), subsystem);
  if (cluster)
    children.push_back(cluster_child_spec(cfg, cluster, metrics));
  bool clustered = static_cast<bool>(cluster);
  bool admin_listener = cfg.admin_listener();
  admin_settings admin;
  admin.request_timeout = routes.request_timeout;
  admin.openapi_json = openapi_document();
  if (metrics)
    admin.metrics = [metrics](std::string& out) {
      metrics->registry().render(out);
    };
  admin.dashboard = dashboard_page();
  admin.fault_injection = cfg.debug_fault_injection;
  // On a listener of its own, GET /ready there asks what the cart routes
  // would (atomics only).
  admin.failing_check = [routes] { return failing_check_of(routes); };
  // The management endpoints over the node's router or directory; false when
  // the child before (`up`) is not running.
  auto resolve_admin = [admin, clustered](const supervision::children_view& up,
                                          admin_settings& out) {
    out = admin;
    if (clustered) {
      out.router = up.find<cart_router_actor>("cluster");
      out.carts = caf::actor_cast<cart_directory_actor>(out.router);
    } else {
      out.carts = up.find<cart_directory_actor>(directory_child_id);
    }
    return static_cast<bool>(out.carts);
  };
  // Once the last listener is bound (the public one, which starts after the
  // management listener; and, in a cluster, the router serves): `serving`
  // (a service manager's READY=1). Both listeners start in the root
  // supervisor, one after the other, so `address` needs no lock.
  auto address = std::make_shared<std::string>();
  auto announce = [serving, clustered,
                   address](caf::event_based_actor* self,
                            const supervision::children_view& up) {
    if (!serving)
      return;
    auto status = "serving HTTP on " + *address;
    if (!clustered) {
      serving(status);
      return;
    }
    if (auto router = up.find<cart_router_actor>("cluster"))
      when_router_serves(self, router, *address,
                         [serving, status] { serving(status); });
  };
  if (admin_listener) {
    // The management endpoints on their own listener (Akka Management's
    // port): same limits as the public one, nothing but them and
    // /health, /ready. Started before the public listener so that it stops
    // after it (children stop in reverse order): /ready (503 "draining")
    // and /metrics stay up while the public listener drains. The price:
    // should it crash, the public listener restarts too (rest_for_one).
    auto admin_server = server;
    admin_server.host = cfg.admin_bind_host();
    admin_server.port = cfg.admin_port;
    admin_server.port_file = cfg.admin_port_file;
    // The HTTP metrics are the public listener's: its connection gauge
    // would otherwise flip between the two servers' counts. The access log
    // covers both.
    admin_server.observers.clear();
    if (cfg.access_log)
      admin_server.observers.push_back(cfg.access_log);
    supervision::child_spec spec;
    spec.id = "admin";
    spec.shutdown = admin_server.drain_timeout + std::chrono::seconds{1};
    spec.start = [admin_server,
                  resolve_admin](caf::event_based_actor* self,
                                 const supervision::children_view& up) {
      admin_settings admin;
      if (!resolve_admin(up, admin))
        return caf::actor{};
      auto handler = std::make_shared<admin_routes>(admin, nullptr);
      uint16_t port = 0;
      auto result =
          http::spawn_server(self->home_system(), admin_server, handler, port);
      if (!result) {
        log().error("cannot listen on {}:{} (admin): {}", admin_server.host,
                    admin_server.port,
                    self->home_system().render(result.error()));
        return caf::actor{};
      }
      log().info("management endpoints on {}:{}", admin_server.host, port);
      return *result;
    };
    children.push_back(std::move(spec));
  }
  {
    supervision::child_spec spec;
    spec.id = "http";
    // Draining in-flight requests takes up to drain_timeout.
    spec.shutdown = server.drain_timeout + std::chrono::seconds{1};
    // The socket main bound before the journal opened, served once; a
    // restarted server binds again.
    auto prebound = std::make_shared<std::atomic<int>>(cfg.http_listen_fd);
    spec.start = [server, routes, clustered, admin_listener, resolve_admin,
                  address, announce,
                  prebound](caf::event_based_actor* self,
                            const supervision::children_view& up) {
      std::shared_ptr<cart_routes> carts;
      cart_router_actor router;
      if (clustered) {
        router = up.find<cart_router_actor>("cluster");
        if (!router)
          return caf::actor{};
        carts = std::make_shared<cart_routes>(router, routes);
      } else {
        auto directory = up.find<cart_directory_actor>(directory_child_id);
        if (!directory)
          return caf::actor{};
        carts = std::make_shared<cart_routes>(directory, routes);
      }
      // The management endpoints share the public port unless they have a
      // listener of their own (then they answer 404 here).
      std::shared_ptr<http::handler> handler = carts;
      if (!admin_listener) {
        admin_settings admin;
        if (!resolve_admin(up, admin))
          return caf::actor{};
        handler = std::make_shared<admin_routes>(admin, carts);
      }
      uint16_t port = 0;
      auto result = http::spawn_server(self->home_system(), server, handler,
                                       port, prebound->exchange(-1));
      if (!result) {
        log().error("cannot listen on {}:{}: {}", server.host, server.port,
                    self->home_system().render(result.error()));
        return caf::actor{};
      }
      *address = server.host + ":" + std::to_string(port);
      // The router joins the cluster once it knows where this front end
      // listens, and pushes views and peer_down to it.
      if (clustered)
        self->send(router, subscribe_atom::value, *result, *address);
      announce(self, up);
      return *result;
    };
    children.push_back(std::move(spec));
  }
  if (grpc) {
    // The gRPC front end's bridge (bindings/grpc), last: it stops first, and
    // its restart restarts nothing else. main's gRPC server reads its handle
    // from the slot for every call, and its health service follows the
    // check GET /ready makes (atomics only).
    grpc->set_readiness([routes] { return failing_check_of(routes); });
    supervision::child_spec spec;
    spec.id = "grpc";
    grpc_bridge_settings bridge;
    bridge.request_timeout = cfg.http_request_timeout;
    spec.start = [grpc, bridge,
                  clustered](caf::event_based_actor* self,
                             const supervision::children_view& up) {
      caf::actor result;
      if (clustered) {
        auto router = up.find<cart_router_actor>("cluster");
        if (!router)
          return caf::actor{};
        result = spawn_grpc_bridge(self->home_system(), router, bridge);
      } else {
        auto directory = up.find<cart_directory_actor>(directory_child_id);
        if (!directory)
          return caf::actor{};
        result = spawn_grpc_bridge(self->home_system(), directory, bridge);
      }
      grpc->set(result);
      return result;
    };
    children.push_back(std::move(spec));
  }
  supervision::supervisor_flags flags;
  flags.how = supervision::strategy::rest_for_one;
  flags.limit = intensity_of(cfg);
  return supervision::spawn_supervisor(sys, flags, std::move(children));
}

} // namespace cartd
