#define BOOST_TEST_MODULE actors_cart_cluster_basp
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cart/cluster/cart_router.hpp"
#include "actors/cart/subsystem.hpp"
#include "runtime/cluster/peer_links.hpp"
#include "runtime/cluster/placement.hpp"
#include "runtime/journal/memory_journal.hpp"
#include "runtime/supervision/supervisor.hpp"

// Two real actor systems in one process, each a node with its own carts and
// router, talking over loopback BASP through the real middleman: the routers
// publish themselves, connect to each other from the views the test hands
// them (a plain actor stands in for each membership worker), a resolve on
// one node reaches a cart on the other, and a router going away is reported
// as peer_down. Waits are bounded receives, never sleeps.

using namespace cartd;
using namespace std::chrono_literals;

namespace {

constexpr auto wait_for = std::chrono::seconds{10};

caf::behavior idle_membership() {
  return {
      [](ack_atom, uint64_t) {},
      [](leave_atom) { return uint64_t{0}; },
  };
}

/// One node: an actor system with the middleman, its carts, its router.
struct node {
  std::string name;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  /// Subscribed to the router: gets its pushes.
  std::unique_ptr<caf::scoped_actor> front_end;
  caf::actor root;
  caf::actor host;
  cart_directory_actor directory;
  cart_router_actor router;
  std::shared_ptr<cluster_lease> lease = std::make_shared<cluster_lease>();
  std::promise<std::string> published;

  explicit node(std::string node_name) : name(std::move(node_name)) {
    add_cartd_types(cfg);
    cfg.load<caf::io::middleman>();
    configure_middleman(cfg, caf::timespan{100ms}, caf::timespan{2s});
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
    front_end = std::make_unique<caf::scoped_actor>(*sys);
    supervision::supervisor_flags flags;
    flags.how = supervision::strategy::rest_for_one;
    root = supervision::spawn_supervisor(
        *sys, flags,
        cart_subsystem_specs(std::make_shared<memory_journal>(),
                             cart_subsystem_settings{}));
    (*self)
        ->request(root, wait_for, caf::get_atom::value,
                  std::string{directory_child_id})
        .receive(
            [&](caf::actor& x) {
              directory = caf::actor_cast<cart_directory_actor>(x);
            },
            [&](caf::error& err) { BOOST_FAIL(sys->render(err)); });
    BOOST_REQUIRE(directory);
    lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
    cart_router_settings settings;
    settings.self = name;
    settings.heartbeat = caf::timespan{100ms};
    settings.request_timeout = caf::timespan{5s};
    settings.lease_clock = lease;
    settings.start_membership = [this](caf::actor_system& s, const std::string&,
                                       const std::string& cluster, caf::actor) {
      published.set_value(cluster);
      return s.spawn(idle_membership);
    };
    std::promise<cart_router_actor> spawned;
    auto dir = directory;
    host = sys->spawn([settings, dir, &spawned](caf::event_based_actor* h) {
      spawned.set_value(spawn_cart_router(h, settings, dir));
      return caf::behavior{[](int) {}};
    });
    router = spawned.get_future().get();
    BOOST_REQUIRE(router);
    (*front_end)
        ->send(router, subscribe_atom::value,
               caf::actor_cast<caf::actor>(*front_end), name + ":80");
  }

  ~node() {
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    front_end.reset();
    self.reset();
    sys.reset();
  }

  /// The router's node-to-node address, once it published itself.
  std::string cluster_address() {
    auto f = published.get_future();
    BOOST_REQUIRE(f.wait_for(wait_for) == std::future_status::ready);
    return f.get();
  }

  void install(const cluster_view& v) {
    auto r = caf::actor_cast<caf::actor>(router);
    caf::anon_send(r, lease_atom::value, true);
    caf::anon_send(r, view_atom::value, v);
  }

  /// Waits for a pushed state that satisfies `pred` (bounded).
  template <class Pred>
  bool await_state(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + wait_for;
    for (;;) {
      bool done = false;
      bool timed_out = false;
      (*front_end)
          ->receive([&](view_atom, cluster_state& s) { done = pred(s); },
                    [&](peer_down_atom, caf::node_id&) {},
                    caf::after(deadline - std::chrono::steady_clock::now()) >>
                        [&] { timed_out = true; });
      if (done)
        return true;
      if (timed_out)
        return false;
    }
  }

  /// Waits for a peer_down (bounded); the node it names.
  std::optional<caf::node_id> await_peer_down() {
    auto deadline = std::chrono::steady_clock::now() + wait_for;
    for (;;) {
      std::optional<caf::node_id> result;
      bool timed_out = false;
      (*front_end)
          ->receive([&](view_atom, cluster_state&) {},
                    [&](peer_down_atom, caf::node_id& x) { result = x; },
                    caf::after(deadline - std::chrono::steady_clock::now()) >>
                        [&] { timed_out = true; });
      if (result || timed_out)
        return result;
    }
  }
};

cluster_member member(const std::string& name, const std::string& cluster) {
  cluster_member m;
  m.name = name;
  m.incarnation = 1;
  m.http = name + ":80";
  m.cluster = cluster;
  m.view_seen = 1;
  return m;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_resolve_reaches_a_cart_on_the_other_node_over_basp) {
  node a{"a"};
  node b{"b"};
  cluster_view v;
  v.number = 1;
  v.members = {member("a", a.cluster_address()),
               member("b", b.cluster_address())};
  a.install(v);
  b.install(v);
  auto b_reachable = [](const cluster_state& s) {
    return s.serving && s.settled && s.members.size() == 2 &&
           s.members[1].reachable;
  };
  BOOST_REQUIRE(a.await_state(b_reachable));
  // A cart b owns, resolved through a: a proxy of b's cart.
  std::vector<std::string> owners{"a", "b"};
  std::string id;
  for (int i = 0; id.empty(); ++i)
    if (auto x = "cart-" + std::to_string(i);
        owners[owner_index(owners, x)] == "b")
      id = x;
  cart_actor cart;
  (*a.self)
      ->request(a.router, wait_for, resolve_atom::value, id)
      .receive([&](cart_actor& x) { cart = x; },
               [&](caf::error& err) { BOOST_ERROR(a.sys->render(err)); });
  BOOST_REQUIRE(cart);
  BOOST_CHECK(cart.node() == b.sys->node());
  BOOST_CHECK(cart.node() != a.sys->node());
  cart_mutation add;
  add.item = "apple";
  add.quantity = 2;
  std::optional<cart_view> view;
  (*a.self)
      ->request(cart, wait_for, add)
      .receive([&](cart_view& x) { view = std::move(x); },
               [&](caf::error& err) { BOOST_ERROR(a.sys->render(err)); });
  BOOST_REQUIRE(view);
  BOOST_CHECK_EQUAL(view->id, id);
  BOOST_CHECK_EQUAL(view->version, 1u);
  // The change is b's: its own directory has the cart with it.
  (*b.self)
      ->request(b.directory, wait_for, resolve_atom::value, id)
      .receive(
          [&](cart_actor& local) {
            (*b.self)
                ->request(local, wait_for, caf::get_atom::value, std::string{})
                .receive(
                    [&](cart_view& x) { BOOST_CHECK_EQUAL(x.version, 1u); },
                    [&](caf::error& err) { BOOST_ERROR(b.sys->render(err)); });
          },
          [&](caf::error& err) { BOOST_ERROR(b.sys->render(err)); });
  // b's router goes away: a's front end is told at once.
  caf::anon_send_exit(b.router, caf::exit_reason::kill);
  auto down = a.await_peer_down();
  BOOST_REQUIRE(down);
  BOOST_CHECK(*down == b.sys->node());
}
