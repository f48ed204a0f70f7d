// The server broker after it stopped (issue 13, finding 7): nothing sent to
// it afterwards is kept, so the broker object is freed and a request to it
// is refused at once. CAF 0.17.6 leaves a terminated broker's mailbox open
// (caf_shims::close_mailbox): a late message holding a strong reference to
// the broker (its own idle tick, a cart's message carrying its handle) kept
// the broker, its mailbox and what they held alive forever, which
// LeakSanitizer reported at every such shutdown.

#include "bindings/http/server.hpp"

#include <chrono>
#include <memory>
#include <thread>

#include <boost/test/unit_test.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

namespace http = cartd::http;
using namespace std::chrono_literals;

namespace {

using late_atom = caf::atom_constant<caf::atom("late")>;

class echo_handler : public http::handler {
public:
  std::string_view handle(caf::io::broker*, http::request&&,
                          http::responder reply) override {
    reply(http::response{});
    return "/echo";
  }
};

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

struct stopped_server_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::actor server;

  stopped_server_fixture() {
    http::server_config scfg;
    scfg.port = 0;
    // Ticks every 10 ms: one is due soon after the server stopped.
    scfg.idle_timeout = 40ms;
    auto res = http::spawn_server(sys, std::move(scfg),
                                  std::make_shared<echo_handler>());
    BOOST_REQUIRE(res);
    server = *res;
    caf::scoped_actor self{sys};
    // Stop a server that runs (it answered once). (A server stopped before
    // the I/O loop added its listening socket is paced_acceptor_test's
    // a_doorman_stopped_in_the_round_it_started_is_freed.)
    self->request(server, 10s, caf::get_atom::value)
        .receive([](uint16_t) {},
                 [](caf::error&) { BOOST_FAIL("the server does not answer"); });
    self->monitor(server);
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(10s) >> [] {});
    BOOST_REQUIRE_MESSAGE(down, "the server did not stop");
  }
};

/// Waits up to 5 s for `pred`.
template <class Predicate>
bool eventually(Predicate pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(server_shutdown, stopped_server_fixture)

// Fails without caf_shims::close_mailbox in the server (checked): the
// message stays queued, holding the broker.
BOOST_AUTO_TEST_CASE(a_stopped_server_is_freed_after_late_messages) {
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(server);
  // Like a cart's message from its on_exit (it names its watcher, the
  // server), arriving after the server stopped.
  caf::anon_send(server, late_atom::value, server);
  server = nullptr;
  BOOST_TEST(eventually([&] { return weak.lock() == nullptr; }),
             "the stopped server is still alive: something holds it");
}

// Fails without caf_shims::close_mailbox in the server (checked): the
// request waits in the open mailbox until it times out.
BOOST_AUTO_TEST_CASE(a_request_to_a_stopped_server_is_refused_at_once) {
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(server, 3s, caf::get_atom::value)
      .receive([](uint16_t) {}, [&](caf::error& e) { err = std::move(e); });
  BOOST_TEST(static_cast<bool>(err), "the request was answered");
  BOOST_TEST(!(err == caf::sec::request_timeout), sys.render(err));
}

BOOST_AUTO_TEST_SUITE_END()
