#include "bindings/cartd/cluster_node.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/cart/cluster/cart_router.hpp"
#include "actors/cart/subsystem.hpp"
#include "bindings/cartd/node.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/cluster/postgres/pg_member_store.hpp"
#include "runtime/core/log.hpp"

namespace cartd {

cluster_parts make_cluster_parts(const cartd_config& cfg) {
  cluster_parts result;
  if (!cfg.cluster_enabled)
    return result;
  result.fence = std::make_shared<journal_fence>();
  result.fence->member = cfg.cluster_node_name();
  result.lease = std::make_shared<cluster_lease>();
  result.store = std::make_shared<std::unique_ptr<member_store>>();
  result.router = std::make_shared<router_slot>();
  return result;
}

caf::error open_member_store(const cartd_config& cfg, cluster_parts& parts) {
  auto store =
      open_pg_member_store(pg_options_of(cfg, parts.fence), parts.transport);
  if (!store)
    return std::move(store.error());
  *parts.store = std::move(*store);
  return caf::none;
}

supervision::child_spec
cluster_child_spec(const cartd_config& cfg, const cluster_parts& parts,
                   std::shared_ptr<metrics::node_metrics> metrics) {
  cart_router_settings settings;
  settings.metrics = std::move(metrics);
  settings.self = cfg.cluster_node_name();
  settings.host = cfg.cluster_host;
  settings.port = cfg.cluster_port;
  settings.heartbeat = cfg.cluster_heartbeat;
  settings.lease = cfg.cluster_lease;
  settings.request_timeout = cfg.http_request_timeout;
  settings.lease_clock = parts.lease;
  auto opts = pg_options_of(cfg, parts.fence);
  membership_settings member;
  member.name = settings.self;
  member.lease = cfg.cluster_lease;
  member.heartbeat = cfg.cluster_heartbeat;
  settings.start_membership =
      [opts, member, parts](caf::actor_system& sys, const std::string& http,
                            const std::string& cluster, caf::actor listener) {
        std::unique_ptr<member_store> store;
        store.swap(*parts.store);
        if (store == nullptr) {
          // Only after a restart of the router; bounded by the connect timeout.
          auto reopened = open_pg_member_store(opts, parts.transport);
          if (!reopened) {
            log().error("cannot open the membership table: {}",
                        message_of(reopened.error()));
            return caf::actor{};
          }
          store = std::move(*reopened);
        }
        auto ms = member;
        ms.http = http;
        ms.cluster = cluster;
        return spawn_membership(sys, std::move(store), std::move(ms),
                                parts.lease, parts.fence, std::move(listener));
      };
  supervision::child_spec spec;
  spec.id = "cluster";
  // Stopping deletes this node's row (bounded by the lease).
  spec.shutdown = cfg.cluster_lease + std::chrono::seconds{1};
  spec.start =
      [settings, parts](
          caf::event_based_actor* self,
          const supervision::children_view& up) -> supervision::child_handle {
    auto directory = up.find<cart_directory_actor>(directory_child_id);
    if (!directory)
      return caf::actor{};
    auto router = spawn_cart_router(self, settings, directory);
    parts.router->set(caf::actor_cast<caf::actor>(router));
    return router;
  };
  return spec;
}

} // namespace cartd
