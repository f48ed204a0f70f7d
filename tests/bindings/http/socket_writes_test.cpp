#include "bindings/http/socket_writes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "loopback_client.hpp"
#include "runtime/core/caf_shims.hpp"

using namespace std::chrono_literals;

namespace {

int port_of(const sockaddr_storage& x) {
  if (x.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(x).sin_port);
  if (x.ss_family == AF_INET6) // CAF listens on :: when given no host
    return ntohs(reinterpret_cast<const sockaddr_in6&>(x).sin6_port);
  return -1;
}

int local_port_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  return port_of(addr);
}

int peer_port_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  return port_of(addr);
}

// What the probe broker saw on its connection.
struct sighting {
  int fd = -1;       // caf_shims::socket_of(hdl)
  int local = -1;    // the local port of that socket
  int peer = -1;     // the peer port of that socket
  int caf_peer = -1; // the peer port CAF reports for hdl
  int direct = -1;   // direct_socket(self, hdl, listening port)
  int mismatch = -1; // direct_socket(self, hdl, another port)
};

// A broker that reports every connection to `test`, and greets the peer by
// writing "hello" to the socket the shim names.
caf::behavior probe(caf::io::broker* self, caf::actor test) {
  return {
      [=](const caf::io::new_connection_msg& msg) {
        auto port = self->local_port(msg.source);
        auto fd = cartd::caf_shims::socket_of(msg.handle);
        auto direct = cartd::http::direct_socket(self, msg.handle, port);
        auto mismatch = cartd::http::direct_socket(
            self, msg.handle, static_cast<uint16_t>(port + 1));
        if (fd >= 0)
          ::send(fd, "hello", 5, MSG_NOSIGNAL);
        self->send(
            test, caf::ok_atom::value, fd, fd >= 0 ? local_port_of(fd) : -1,
            fd >= 0 ? peer_port_of(fd) : -1,
            static_cast<int>(self->remote_port(msg.handle)), direct, mismatch);
      },
      [](const caf::io::new_data_msg&) {},
      [](const caf::io::connection_closed_msg&) {},
  };
}

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

struct probe_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor test;
  caf::actor broker;
  uint16_t port = 0;

  probe_fixture() : sys(init(cfg)), test(sys) {
    // nop
  }

  ~probe_fixture() {
    if (broker)
      caf::anon_send_exit(broker, caf::exit_reason::user_shutdown);
  }

  void start() {
    auto res = sys.middleman().spawn_server(probe, port, caf::actor{test});
    BOOST_REQUIRE(res);
    BOOST_REQUIRE(port != 0);
    broker = *res;
  }

  /// Connects to the probe; the connected socket (closed by the caller).
  int connect() {
    return cartd::test::connect_loopback(port, std::chrono::seconds{5});
  }

  sighting next_sighting() {
    sighting result;
    test->receive(
        [&](caf::ok_atom, int fd, int local, int peer, int caf_peer, int direct,
            int mismatch) {
          result = sighting{fd, local, peer, caf_peer, direct, mismatch};
        },
        caf::after(10s) >> [] { BOOST_FAIL("the probe saw no connection"); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(socket_writes_tests, probe_fixture)

// The assumption behind caf_shims::socket_of. If a CAF upgrade names
// connections otherwise, this fails, and the server's direct writes must be
// turned off (--http.direct-writes=false) or reworked.
BOOST_AUTO_TEST_CASE(a_connection_handle_names_the_socket_of_its_connection) {
  start();
  for (int i = 0; i < 3; ++i) {
    auto client = connect();
    auto seen = next_sighting();
    BOOST_TEST_CONTEXT("connection " << i) {
      BOOST_REQUIRE_MESSAGE(seen.fd >= 0,
                            "CAF's connection handle is no socket number");
      // The socket the handle names is this connection's: its peer is our
      // client, its local end the listening port.
      BOOST_TEST(seen.peer == local_port_of(client));
      BOOST_TEST(seen.local == static_cast<int>(port));
      BOOST_TEST(seen.caf_peer == local_port_of(client));
      // And bytes written to it reach the client.
      char buf[8] = {};
      auto n = ::recv(client, buf, sizeof(buf), 0);
      BOOST_TEST(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) ==
                 "hello");
      // direct_socket agrees, and refuses when the ports do not match.
      BOOST_TEST(seen.direct == seen.fd);
      BOOST_TEST(seen.mismatch == -1);
    }
    ::close(client);
  }
}

BOOST_AUTO_TEST_CASE(a_handle_id_that_cannot_be_a_socket_names_none) {
  using caf::io::connection_handle;
  BOOST_TEST(cartd::caf_shims::socket_of(connection_handle{}) == -1);
  BOOST_TEST(cartd::caf_shims::socket_of(connection_handle::from_int(-1)) ==
             -1);
  BOOST_TEST(cartd::caf_shims::socket_of(
                 connection_handle::from_int(int64_t{1} << 40)) == -1);
  BOOST_TEST(cartd::caf_shims::socket_of(connection_handle::from_int(7)) == 7);
}

BOOST_AUTO_TEST_SUITE_END()
