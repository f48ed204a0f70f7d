#include "bindings/http/connection_abort.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "loopback_client.hpp"
#include "open_sockets.hpp"
#include "runtime/core/caf_shims.hpp"

using namespace std::chrono_literals;
using cartd::test::accepted_sockets;

namespace {

using close_conn_atom = caf::atom_constant<caf::atom("close_conn")>;
using abort_conn_atom = caf::atom_constant<caf::atom("abort_conn")>;

/// Output per connection: far more than the socket buffers of a client that
/// does not read hold, so CAF keeps most of it.
constexpr size_t flood = 32 * 1024 * 1024;

struct flood_state {
  std::vector<caf::io::connection_handle> conns;
  std::shared_ptr<std::atomic<int>> accepted;
};

// Accepts connections, writes `flood` bytes to each; (close_conn_atom, i)
// closes the i-th gracefully, (abort_conn_atom, i) aborts it.
caf::behavior flood_server(caf::io::stateful_broker<flood_state>* self,
                           std::shared_ptr<std::atomic<int>> accepted) {
  self->state.accepted = std::move(accepted);
  return {
      [self](const caf::io::new_connection_msg& msg) {
        self->configure_read(msg.handle,
                             caf::io::receive_policy::at_most(1024));
        auto& buf = self->wr_buf(msg.handle);
        buf.resize(flood, 'x');
        self->flush(msg.handle);
        self->state.conns.push_back(msg.handle);
        ++*self->state.accepted;
      },
      [](const caf::io::new_data_msg&) {},
      [](const caf::io::connection_closed_msg&) {},
      [self](close_conn_atom, int i) {
        self->close(self->state.conns.at(static_cast<size_t>(i)));
      },
      [self](abort_conn_atom, int i) {
        auto hdl = self->state.conns.at(static_cast<size_t>(i));
        cartd::http::abort_connection(self, hdl,
                                      cartd::caf_shims::socket_of(hdl));
      },
  };
}

/// Closes a client socket however the test case ends (a client left open
/// keeps CAF's write, and so the actor system's shutdown, waiting).
struct socket_guard {
  int fd;
  ~socket_guard() {
    if (fd >= 0)
      ::close(fd);
  }
  void close() {
    ::close(fd);
    fd = -1;
  }
};

int connect_to(uint16_t port) {
  return cartd::test::connect_loopback(port, std::chrono::seconds{5});
}

template <class Predicate>
bool eventually(Predicate pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

/// Reads until the connection ends; whether it ended with a reset (the
/// abort) rather than an orderly close or the 5 s timeout.
bool ends_with_reset(int fd) {
  char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0)
      continue;
    return n < 0 && errno == ECONNRESET;
  }
}

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(connection_abort)

// The assumption behind abort_connection (connection_abort.hpp): CAF's
// close keeps the socket of a client that does not read for as long as
// the client stays, and a failed write makes CAF release it.
BOOST_AUTO_TEST_CASE(
    an_aborted_connection_releases_its_socket_despite_unsent_output) {
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  auto accepted = std::make_shared<std::atomic<int>>(0);
  uint16_t port = 0;
  auto server = sys.middleman().spawn_server(flood_server, port, accepted);
  BOOST_REQUIRE(server);
  socket_guard closed_client{connect_to(port)};
  BOOST_REQUIRE(eventually([&] { return *accepted == 1; }));
  socket_guard aborted_client{connect_to(port)};
  BOOST_REQUIRE(eventually([&] { return *accepted == 2; }));
  BOOST_REQUIRE_EQUAL(accepted_sockets(port), 2u);
  caf::anon_send(*server, close_conn_atom::value, 0);
  caf::anon_send(*server, abort_conn_atom::value, 1);
  // The aborted one goes at once; the gracefully closed one stays (its
  // client reads nothing, so CAF's write never ends) ...
  BOOST_TEST(eventually([&] { return accepted_sockets(port) == 1; }));
  BOOST_TEST(ends_with_reset(aborted_client.fd));
  BOOST_TEST(accepted_sockets(port) == 1u);
  // ... until its client goes away.
  closed_client.close();
  BOOST_TEST(eventually([&] { return accepted_sockets(port) == 0; }));
  caf::anon_send_exit(*server, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(unsent_bytes_are_what_the_client_did_not_take) {
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  auto accepted = std::make_shared<std::atomic<int>>(0);
  uint16_t port = 0;
  auto server = sys.middleman().spawn_server(flood_server, port, accepted);
  BOOST_REQUIRE(server);
  socket_guard guard{connect_to(port)};
  auto client = guard.fd;
  BOOST_REQUIRE(eventually([&] { return *accepted == 1; }));
  // The server's side: the socket whose peer is `client`.
  sockaddr_in mine{};
  socklen_t len = sizeof(mine);
  BOOST_REQUIRE(
      ::getsockname(client, reinterpret_cast<sockaddr*>(&mine), &len) == 0);
  int server_fd = -1;
  for (int fd = 0; fd < 1024 && server_fd < 0; ++fd) {
    sockaddr_in peer{};
    socklen_t peer_len = sizeof(peer);
    if (fd != client &&
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0 &&
        peer.sin_port == mine.sin_port)
      server_fd = fd;
  }
  BOOST_REQUIRE(server_fd >= 0);
  BOOST_TEST(
      eventually([&] { return cartd::http::unsent_bytes(server_fd) > 0; }));
  BOOST_TEST(cartd::http::unsent_bytes(-1) == 0u);
  guard.close();
  caf::anon_send_exit(*server, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
