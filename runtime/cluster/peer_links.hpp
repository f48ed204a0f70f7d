#pragma once

// How nodes reach each other: CAF's middleman (BASP), in plain TCP or in
// mutual TLS through CAF's openssl module, set up in this one place. Publishing
// a node's router and connecting to a member go through the middleman actor's
// asynchronous interface (the blocking middleman calls must never run inside
// an actor), always with finite timeouts.
//
// The "links" actor an actor publishes and connects through answers the
// middleman actor's publish_atom and connect_atom (caf::io::middleman_actor):
// the system's middleman or the openssl module's twin of it in a node
// (links_of), a plain local actor in
// deterministic tests that need no network.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/sec.hpp>
#include <caf/timespan.hpp>

namespace cartd {

/// The application identifier of cluster nodes: nodes of another
/// application (or another version of the node-to-node protocol) are
/// refused when they connect.
constexpr const char* cluster_app_identifier = "cartd-cluster-v1";

/// Sets the middleman options every node of a cluster must share: the
/// application identifier, BASP heartbeats every `heartbeat` and a
/// connection timeout of `connection_timeout` (so a frozen or cut-off peer
/// is noticed), and automatic connections (no routes through a third node).
/// Call before the actor system starts.
void configure_middleman(caf::actor_system_config& cfg, caf::timespan heartbeat,
                         caf::timespan connection_timeout);

/// Switches the node-to-node traffic to mutual TLS: loads CAF's openssl
/// module with this node's `certificate` chain and `key` and the cluster's
/// `ca` (all PEM files, checked beforehand: see tls_credentials; CAF aborts
/// the process on a bad one), so that publish_async and connect_async
/// through links_of speak TLS, and turns automatic connections off: CAF
/// makes those in plain TCP (a second BASP port on every interface, and
/// plain connects to it), which would let a peer without a certificate in.
/// The nodes reach each other directly anyway (the routers connect to every
/// member). Call after configure_middleman, before the actor system starts.
void configure_tls(caf::actor_system_config& cfg,
                   const std::string& certificate, const std::string& key,
                   const std::string& ca);

/// The links actor of `sys`: the openssl module's middleman actor when it is
/// loaded (TLS; configure_tls), else the middleman's (plain TCP; the io
/// module must be loaded).
caf::actor links_of(caf::actor_system& sys);

/// Splits "host:port" (or "[v6]:port"); nullopt when it is not one.
std::optional<std::pair<std::string, uint16_t>>
split_host_port(const std::string& address);

/// A connection to a peer: its CAF node and the actor it published.
struct peer_link {
  caf::node_id node;
  caf::actor published;
};

/// Publishes `whom` on host:port (port 0: any free one) through `links`,
/// asynchronously: `on_port(uint16_t)` with the port bound, or
/// `on_error(caf::error&)` (also after `timeout`). `Self` is any actor that
/// makes requests (typed or not).
template <class Self, class OnPort, class OnError>
void publish_async(Self* self, const caf::actor& links, caf::actor whom,
                   std::string host, uint16_t port, caf::timespan timeout,
                   OnPort on_port, OnError on_error) {
  self->request(caf::actor_cast<caf::io::middleman_actor>(links), timeout,
                caf::publish_atom::value, port,
                caf::actor_cast<caf::strong_actor_ptr>(std::move(whom)),
                std::set<std::string>{}, std::move(host), false)
      .then([on_port](uint16_t bound) mutable { on_port(bound); },
            [on_error](caf::error& err) mutable { on_error(err); });
}

/// Connects to the actor published on host:port through `links`,
/// asynchronously: `on_link(peer_link&)`, or `on_error(caf::error&)` (also
/// after `timeout`, and when nothing is published there).
template <class Self, class OnLink, class OnError>
void connect_async(Self* self, const caf::actor& links, std::string host,
                   uint16_t port, caf::timespan timeout, OnLink on_link,
                   OnError on_error) {
  self->request(caf::actor_cast<caf::io::middleman_actor>(links), timeout,
                caf::connect_atom::value, std::move(host), port)
      .then(
          [on_link, on_error](const caf::node_id& node,
                              caf::strong_actor_ptr& published,
                              const std::set<std::string>&) mutable {
            if (!published) {
              caf::error err = caf::sec::no_actor_published_at_port;
              on_error(err);
              return;
            }
            peer_link link{node, caf::actor_cast<caf::actor>(published)};
            on_link(link);
          },
          [on_error](caf::error& err) mutable { on_error(err); });
}

} // namespace cartd
