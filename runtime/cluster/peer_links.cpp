#include "runtime/cluster/peer_links.hpp"

#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace cartd {

void configure_middleman(caf::actor_system_config& cfg, caf::timespan heartbeat,
                         caf::timespan connection_timeout) {
  // The option names of CAF 0.17.6 (libcaf_io's middleman reads them when
  // the system starts). Heartbeats and the connection timeout must be set
  // on every node alike: a node with a connection timeout drops healthy
  // idle connections of a peer that sends no heartbeats.
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{cluster_app_identifier});
  cfg.set("middleman.heartbeat-interval", heartbeat);
  cfg.set("middleman.connection-timeout", connection_timeout);
  cfg.set("middleman.enable-automatic-connections", true);
}

void configure_tls(caf::actor_system_config& cfg,
                   const std::string& certificate, const std::string& key,
                   const std::string& ca) {
  // CAF's openssl module reads these members (not the settings) for every
  // connection. All three set: authentication on, both sides present a
  // certificate and verify the peer's against the CA
  // (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT). With none set it
  // would run anonymous (unauthenticated) TLS: never without all three.
  cfg.openssl_certificate = certificate;
  cfg.openssl_key = key;
  cfg.openssl_cafile = ca;
  cfg.openssl_passphrase.clear();
  cfg.openssl_capath.clear();
  cfg.set("middleman.enable-automatic-connections", false);
  cfg.load<caf::openssl::manager>();
}

caf::actor links_of(caf::actor_system& sys) {
  if (sys.has_openssl_manager())
    return caf::actor_cast<caf::actor>(sys.openssl_manager().actor_handle());
  return caf::actor_cast<caf::actor>(sys.middleman().actor_handle());
}

std::optional<std::pair<std::string, uint16_t>>
split_host_port(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return std::nullopt;
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty())
    return std::nullopt;
  unsigned long port = 0;
  for (size_t i = colon + 1; i < address.size(); ++i) {
    char c = address[i];
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535)
      return std::nullopt;
  }
  return std::make_pair(std::move(host), static_cast<uint16_t>(port));
}

} // namespace cartd
