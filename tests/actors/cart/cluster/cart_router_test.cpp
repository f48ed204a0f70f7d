#define BOOST_TEST_MODULE actors_cart_cluster_router
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/system_messages.hpp>

#include "actors/cart/cluster/cart_router.hpp"
#include "runtime/cluster/placement.hpp"
#include "tests/actors/cart/cart_system_fixture.hpp"

using namespace cartd;
using namespace std::chrono_literals;

// The router of node "a" over a real directory (memory journal) on CAF's
// deterministic test_coordinator. Around it, plain actors stand in for the
// rest of the cluster:
//
//   test ── resolve/route ──► router "a" ──► directory ──► carts
//                               │  ▲
//          publish/connect ─────┘  │ view / lease (injected by the test)
//          fake links: "host:port" -> fake peer router (answers route_atom
//                                   with a fake cart, or holds the request)
//          start_membership -> fake membership (records acks, answers leave)
//          subscriber: records view pushes and peer_down

namespace {

constexpr auto heartbeat = caf::timespan{std::chrono::milliseconds{500}};
constexpr auto request_timeout = caf::timespan{std::chrono::seconds{5}};

/// What the fakes saw and how they behave.
struct world {
  /// Port -> the peer router published there (absent: unreachable).
  std::map<uint16_t, caf::actor> network;
  /// The addresses the router passed to start_membership.
  std::string membership_http;
  std::string membership_cluster;
  int memberships_started = 0;
  std::vector<uint64_t> acks;
  /// What the membership answers to leave_atom.
  uint64_t leave_view = 0;
  /// What the subscriber got.
  std::vector<cluster_state> states;
  std::vector<caf::node_id> peer_downs;
  /// Route requests a holding peer did not answer.
  std::vector<caf::typed_response_promise<cart_actor>> held;
  std::vector<std::string> routed;
  /// The request id of each route, in order.
  std::vector<std::string> request_ids;
  /// Routes the peers refuse (cart_errc::unavailable) before they answer:
  /// their view lags behind the router's.
  int refusals = 0;
};

/// The (made up) CAF node of the fake peer on `port`: a system without
/// the middleman has no node id of its own.
caf::node_id node_of(uint16_t port) {
  auto x = caf::make_node_id(port, "0123456789abcdef0123456789abcdef01234567");
  BOOST_REQUIRE(x);
  return *x;
}

caf::behavior fake_links(caf::event_based_actor*, std::shared_ptr<world> w) {
  return {
      [](caf::publish_atom, uint16_t port, caf::strong_actor_ptr&,
         std::set<std::string>&, std::string&,
         bool) -> uint16_t { return port == 0 ? uint16_t{4000} : port; },
      [](caf::unpublish_atom, const caf::actor_addr&, uint16_t) {},
      [w](caf::connect_atom, const std::string&,
          uint16_t port) -> caf::result<caf::node_id, caf::strong_actor_ptr,
                                        std::set<std::string>> {
        auto i = w->network.find(port);
        if (i == w->network.end())
          return caf::sec::cannot_connect_to_node;
        return caf::result<caf::node_id, caf::strong_actor_ptr,
                           std::set<std::string>>(
            node_of(port), caf::actor_cast<caf::strong_actor_ptr>(i->second),
            std::set<std::string>{});
      },
  };
}

/// A peer router that answers every route with `cart`, or (hold) never.
caf::behavior fake_peer(caf::event_based_actor* self, std::shared_ptr<world> w,
                        caf::actor cart, bool hold) {
  return {
      [=](route_atom, const std::string& id,
          const std::string& request_id) -> caf::result<cart_actor> {
        w->routed.push_back(id);
        w->request_ids.push_back(request_id);
        if (w->refusals > 0) {
          --w->refusals;
          return make_error(cart_errc::unavailable, "not mine in my view");
        }
        if (hold) {
          auto promise = self->make_response_promise<cart_actor>();
          w->held.push_back(promise);
          return promise;
        }
        return caf::actor_cast<cart_actor>(cart);
      },
  };
}

/// Stands in for a remote cart (only its identity matters).
caf::behavior fake_cart() {
  return {[](caf::get_atom, const std::string&) { return cart_view{}; }};
}

caf::behavior fake_membership(caf::event_based_actor*,
                              std::shared_ptr<world> w) {
  return {
      [w](ack_atom, uint64_t view) { w->acks.push_back(view); },
      [w](leave_atom) { return w->leave_view; },
  };
}

caf::behavior recording_subscriber(caf::event_based_actor*,
                                   std::shared_ptr<world> w) {
  return {
      [w](view_atom, cluster_state& s) { w->states.push_back(std::move(s)); },
      [w](peer_down_atom, caf::node_id& node) {
        w->peer_downs.push_back(node);
      },
  };
}

cluster_member member(const std::string& name, uint16_t port,
                      uint64_t view_seen,
                      member_status status = member_status::up) {
  cluster_member m;
  m.name = name;
  m.incarnation = 7;
  m.http = name + ":80";
  m.cluster = "127.0.0.1:" + std::to_string(port);
  m.status = status;
  m.view_seen = view_seen;
  return m;
}

struct fixture : test::cart_system_fixture {
  std::shared_ptr<world> w = std::make_shared<world>();
  std::shared_ptr<cluster_lease> lease = std::make_shared<cluster_lease>();
  cart_router_actor router;
  caf::actor subscriber;
  /// Every plain actor the test spawned, killed at the end.
  std::vector<caf::actor> fakes;

  template <class... Ts>
  caf::actor spawn_fake(Ts&&... xs) {
    auto x = sys.spawn(std::forward<Ts>(xs)...);
    fakes.push_back(x);
    return x;
  }
  caf::scoped_actor watcher{sys, true};

  fixture() {
    lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
  }

  /// Starts the carts and router "a" (published on port 4000 by the fake
  /// links) and subscribes the recording front end.
  void start_router() {
    start();
    cart_router_settings settings;
    settings.self = "a";
    settings.heartbeat = heartbeat;
    settings.request_timeout = request_timeout;
    settings.lease_clock = lease;
    settings.links = spawn_fake(fake_links, w);
    auto shared = w;
    settings.start_membership =
        [shared](caf::actor_system& sys, const std::string& http,
                 const std::string& cluster, caf::actor) {
          shared->membership_http = http;
          shared->membership_cluster = cluster;
          ++shared->memberships_started;
          return sys.spawn(fake_membership, shared);
          // (linked to the router: it ends with it)
        };
    auto dir = directory;
    auto out = std::make_shared<cart_router_actor>();
    spawn_fake([settings, dir, out](caf::event_based_actor* host) {
      *out = spawn_cart_router(host, settings, dir);
      return caf::behavior{[](int) {}};
    });
    run();
    BOOST_REQUIRE(*out);
    router = *out;
    subscriber = spawn_fake(recording_subscriber, w);
    caf::anon_send(router, subscribe_atom::value, subscriber,
                   std::string{"a:80"});
    run();
  }

  ~fixture() {
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    for (auto& x : fakes)
      caf::anon_send_exit(x, caf::exit_reason::kill);
    for (auto& [port, peer] : w->network)
      caf::anon_send_exit(peer, caf::exit_reason::kill);
    w->held.clear();
    run();
  }

  void grant_lease() {
    caf::anon_send(caf::actor_cast<caf::actor>(router), lease_atom::value,
                   true);
    run();
  }

  void install(uint64_t number, std::vector<cluster_member> members) {
    cluster_view v;
    v.number = number;
    v.members = std::move(members);
    caf::anon_send(caf::actor_cast<caf::actor>(router), view_atom::value, v);
    run();
  }

  /// A peer router on `port` answering with a fake cart (returned).
  caf::actor add_peer(uint16_t port, bool hold = false) {
    auto cart = spawn_fake(fake_cart);
    w->network[port] = spawn_fake(fake_peer, w, cart, hold);
    return cart;
  }

  std::optional<caf::expected<cart_actor>> try_resolve(const std::string& id) {
    return try_call<cart_actor>(router, resolve_atom::value, id);
  }

  /// A cart id whose owner among `owners` is `owner`.
  static std::string id_owned_by(const std::vector<std::string>& owners,
                                 const std::string& owner, int skip = 0) {
    for (int i = 0;; ++i) {
      auto id = "cart-" + std::to_string(i);
      if (owners[owner_index(owners, id)] == owner && skip-- == 0)
        return id;
    }
  }

  size_t downs() {
    size_t n = 0;
    for (bool more = true; more;)
      watcher->receive([&](caf::down_msg&) { ++n; },
                       caf::after(std::chrono::seconds{0}) >>
                           [&] { more = false; });
    return n;
  }
};

const std::vector<std::string> ab{"a", "b"};

bool is(const caf::expected<cart_actor>& x, cart_errc code) {
  return !x && to_cart_errc(x.error()) == code;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(router, fixture)

BOOST_AUTO_TEST_CASE(the_membership_starts_with_both_addresses) {
  start_router();
  BOOST_CHECK_EQUAL(w->memberships_started, 1);
  BOOST_CHECK_EQUAL(w->membership_http, "a:80");
  BOOST_CHECK_EQUAL(w->membership_cluster, "127.0.0.1:4000");
  // The subscriber got the state at once.
  BOOST_REQUIRE(!w->states.empty());
  BOOST_CHECK_EQUAL(w->states.back().self, "a");
  BOOST_CHECK(!w->states.back().serving);
}

BOOST_AUTO_TEST_CASE(a_router_whose_membership_cannot_start_fails) {
  // It would never join: its supervisor restarts it instead.
  start();
  cart_router_settings settings;
  settings.self = "a";
  settings.lease_clock = lease;
  settings.links = spawn_fake(fake_links, w);
  settings.start_membership = [](caf::actor_system&, const std::string&,
                                 const std::string&,
                                 caf::actor) { return caf::actor{}; };
  auto dir = directory;
  auto out = std::make_shared<cart_router_actor>();
  spawn_fake([settings, dir, out](caf::event_based_actor* host) {
    *out = spawn_cart_router(host, settings, dir);
    return caf::behavior{[](int) {}};
  });
  run();
  BOOST_REQUIRE(*out);
  watcher->monitor(*out);
  caf::anon_send(*out, subscribe_atom::value,
                 spawn_fake(recording_subscriber, w), std::string{"a:80"});
  run();
  std::optional<caf::down_msg> down;
  watcher->receive([&](caf::down_msg& x) { down = x; },
                   caf::after(std::chrono::seconds{0}) >> [] {});
  BOOST_REQUIRE(down);
  BOOST_CHECK(down->reason);
}

BOOST_AUTO_TEST_CASE(without_a_lease_nothing_is_served) {
  start_router();
  install(1, {member("a", 4000, 1)});
  auto before = try_resolve("cart-1");
  BOOST_REQUIRE(before);
  BOOST_CHECK(is(*before, cart_errc::unavailable));
  auto routed = try_call<cart_actor>(router, route_atom::value,
                                     std::string{"cart-1"}, std::string{});
  BOOST_REQUIRE(routed);
  BOOST_CHECK(is(*routed, cart_errc::unavailable));
  grant_lease();
  auto after = try_resolve("cart-1");
  BOOST_REQUIRE(after);
  BOOST_CHECK(*after);
}

BOOST_AUTO_TEST_CASE(a_cart_owned_here_comes_from_the_local_directory) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  add_peer(4001);
  auto id = id_owned_by(ab, "a");
  auto cart = try_resolve(id);
  BOOST_REQUIRE(cart && *cart);
  BOOST_CHECK(**cart == resolve(id));
  BOOST_CHECK(w->routed.empty());
  BOOST_TEST(w->acks == std::vector<uint64_t>{1});
}

BOOST_AUTO_TEST_CASE(the_request_id_of_a_resolve_goes_with_its_route) {
  start_router();
  grant_lease();
  add_peer(4001);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto id = id_owned_by(ab, "b");
  auto cart = try_call<cart_actor>(router, resolve_atom::value, id,
                                   std::string{"req-7"});
  BOOST_REQUIRE(cart && *cart);
  BOOST_TEST(w->routed == std::vector<std::string>{id});
  BOOST_TEST(w->request_ids == std::vector<std::string>{"req-7"});
}

BOOST_AUTO_TEST_CASE(a_cart_owned_elsewhere_is_routed_to_its_owner) {
  start_router();
  grant_lease();
  auto remote = add_peer(4001);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto id = id_owned_by(ab, "b");
  auto cart = try_resolve(id);
  BOOST_REQUIRE(cart && *cart);
  BOOST_CHECK(caf::actor_cast<caf::actor>(**cart) == remote);
  BOOST_TEST(w->routed == std::vector<std::string>{id});
  // The state names b reachable.
  auto state =
      call<cluster_state>(router, caf::get_atom::value, cluster_atom::value);
  BOOST_REQUIRE(state);
  BOOST_REQUIRE_EQUAL(state->members.size(), 2u);
  BOOST_CHECK(state->members[1].reachable);
  BOOST_CHECK(state->serving && state->settled);
}

BOOST_AUTO_TEST_CASE(a_route_from_a_peer_is_served_only_for_carts_owned_here) {
  start_router();
  grant_lease();
  add_peer(4001);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto mine = try_call<cart_actor>(router, route_atom::value,
                                   id_owned_by(ab, "a"), std::string{});
  BOOST_REQUIRE(mine && *mine);
  auto theirs = try_call<cart_actor>(router, route_atom::value,
                                     id_owned_by(ab, "b"), std::string{});
  BOOST_REQUIRE(theirs);
  BOOST_CHECK(is(*theirs, cart_errc::unavailable));
  BOOST_CHECK(w->routed.empty()); // never forwarded on a peer's behalf
}

BOOST_AUTO_TEST_CASE(an_invalid_id_is_refused) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1)});
  auto x = try_resolve("");
  BOOST_REQUIRE(x);
  BOOST_CHECK(is(*x, cart_errc::invalid_cart_id));
}

BOOST_AUTO_TEST_CASE(a_cart_waits_for_an_unsettled_view_to_activate) {
  start_router();
  grant_lease();
  add_peer(4001);
  // b has not acknowledged view 1 yet: it may still hold carts a owns now.
  install(1, {member("a", 4000, 1), member("b", 4001, 0)});
  auto id = id_owned_by(ab, "a");
  auto handle = self->request(router, caf::infinite, resolve_atom::value, id);
  run();
  BOOST_CHECK(self->mailbox().empty());
  // b acknowledges: the same view, read again, is settled.
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  cart_actor cart;
  receive_reply(
      handle, [&](cart_actor& x) { cart = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(cart);
}

BOOST_AUTO_TEST_CASE(a_resident_cart_keeps_serving_while_a_view_settles) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1)});
  std::vector<std::string> abc{"a", "b", "c"};
  auto id = id_owned_by(abc, "a");
  auto first = try_resolve(id);
  BOOST_REQUIRE(first && *first);
  add_peer(4001);
  add_peer(4002);
  // c joins; nobody acknowledged view 2 yet.
  install(2,
          {member("a", 4000, 1), member("b", 4001, 1), member("c", 4002, 1)});
  auto again = try_resolve(id);
  BOOST_REQUIRE(again && *again);
  BOOST_CHECK(**again == **first);
}

BOOST_AUTO_TEST_CASE(a_new_view_releases_what_moved_before_it_is_acked) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1)});
  // A cart that stays and one that moves to b, which has a write in
  // flight when b joins.
  auto stays = id_owned_by(ab, "a");
  auto moves = id_owned_by(ab, "b");
  auto stay_cart = try_resolve(stays);
  auto move_cart = try_resolve(moves);
  BOOST_REQUIRE(stay_cart && *stay_cart && move_cart && *move_cart);
  watcher->monitor(**stay_cart);
  watcher->monitor(**move_cart);
  BOOST_TEST(w->acks == std::vector<uint64_t>{1});
  journal_held = true;
  auto write =
      self->request(**move_cart, caf::infinite, test::add_mutation("apple", 1));
  run();
  add_peer(4001);
  install(2, {member("a", 4000, 1), member("b", 4001, 2)});
  // The moving cart still writes: view 2 is not acknowledged yet.
  BOOST_TEST(w->acks == std::vector<uint64_t>{1});
  BOOST_CHECK_EQUAL(downs(), 0u);
  journal_held = false;
  run();
  bool stored = false;
  receive_reply(
      write, [&](cart_view& v) { stored = v.version == 1; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(stored);
  BOOST_CHECK_EQUAL(downs(), 1u); // the moving cart, not the staying one
  BOOST_TEST(w->acks == (std::vector<uint64_t>{1, 2}));
  auto still =
      call<cart_actor>(caf::actor_cast<cart_directory_control_actor>(directory),
                       lookup_atom::value, stays);
  BOOST_CHECK(still && *still == **stay_cart);
}

BOOST_AUTO_TEST_CASE(an_unreachable_owner_is_waited_for_until_it_connects) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto id = id_owned_by(ab, "b");
  auto handle = self->request(router, caf::infinite, resolve_atom::value, id);
  run();
  BOOST_CHECK(self->mailbox().empty());
  // b comes up; the router tries again within a heartbeat.
  auto remote = add_peer(4001);
  advance(heartbeat);
  cart_actor cart;
  receive_reply(
      handle, [&](cart_actor& x) { cart = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(caf::actor_cast<caf::actor>(cart) == remote);
}

BOOST_AUTO_TEST_CASE(an_owner_that_refuses_is_asked_again_shortly) {
  start_router();
  grant_lease();
  auto remote = add_peer(4001);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  w->refusals = 1; // b has not read view 1 yet
  auto id = id_owned_by(ab, "b");
  auto handle = self->request(router, caf::infinite, resolve_atom::value, id);
  run();
  BOOST_CHECK(self->mailbox().empty());
  BOOST_CHECK_EQUAL(w->routed.size(), 1u);
  advance(heartbeat);
  cart_actor cart;
  receive_reply(
      handle, [&](cart_actor& x) { cart = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(caf::actor_cast<caf::actor>(cart) == remote);
  BOOST_CHECK_EQUAL(w->routed.size(), 2u);
}

BOOST_AUTO_TEST_CASE(a_parked_request_ends_unavailable_after_its_timeout) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto handle = self->request(router, caf::infinite, resolve_atom::value,
                              id_owned_by(ab, "b"));
  run();
  BOOST_CHECK(self->mailbox().empty());
  advance(request_timeout);
  bool unavailable = false;
  receive_reply(
      handle, [&](cart_actor&) {},
      [&](caf::error& err) {
        unavailable = to_cart_errc(err) == cart_errc::unavailable;
      });
  BOOST_CHECK(unavailable);
}

BOOST_AUTO_TEST_CASE(a_peer_going_down_is_reported_and_its_requests_rerouted) {
  start_router();
  grant_lease();
  add_peer(4001, true); // b holds every route
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto id = id_owned_by(ab, "b");
  auto handle = self->request(router, caf::infinite, resolve_atom::value, id);
  run();
  BOOST_REQUIRE_EQUAL(w->routed.size(), 1u);
  BOOST_CHECK(self->mailbox().empty());
  // b's router goes away: the subscriber hears of it at once.
  caf::anon_send_exit(w->network[4001], caf::exit_reason::kill);
  w->network.erase(4001);
  w->held.clear();
  run();
  BOOST_REQUIRE_EQUAL(w->peer_downs.size(), 1u);
  BOOST_CHECK(w->peer_downs[0] == node_of(4001));
  BOOST_CHECK(self->mailbox().empty()); // waits: b is still a member
  // b leaves the view: the cart is a's now, and the waiting request is
  // served here without waiting for its timeout.
  install(2, {member("a", 4000, 2)});
  cart_actor cart;
  receive_reply(
      handle, [&](cart_actor& x) { cart = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_REQUIRE(cart);
  BOOST_CHECK(cart == resolve(id));
}

BOOST_AUTO_TEST_CASE(a_new_view_reroutes_requests_in_flight_at_once) {
  start_router();
  grant_lease();
  add_peer(4001, true); // b holds every route
  auto from_c = add_peer(4002);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  std::vector<std::string> abc{"a", "b", "c"};
  // A cart b owns in view 1 and c in view 2.
  std::string id;
  for (int i = 0; id.empty(); ++i) {
    auto x = "cart-" + std::to_string(i);
    if (ab[owner_index(ab, x)] == "b" && abc[owner_index(abc, x)] == "c")
      id = x;
  }
  auto handle = self->request(router, caf::infinite, resolve_atom::value, id);
  run();
  BOOST_CHECK(self->mailbox().empty());
  install(2,
          {member("a", 4000, 2), member("b", 4001, 2), member("c", 4002, 2)});
  cart_actor cart;
  receive_reply(
      handle, [&](cart_actor& x) { cart = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(caf::actor_cast<caf::actor>(cart) == from_c);
}

BOOST_AUTO_TEST_CASE(losing_the_lease_releases_every_cart_and_serves_nothing) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto cart = try_resolve(id_owned_by(ab, "a"));
  BOOST_REQUIRE(cart && *cart);
  watcher->monitor(**cart);
  // A request waiting for b (unreachable) when the lease ends.
  auto waiting = self->request(router, caf::infinite, resolve_atom::value,
                               id_owned_by(ab, "b"));
  run();
  BOOST_CHECK(self->mailbox().empty());
  // The lease runs out without a renewal: the router's check notices.
  lease->revoke();
  fire_timers();
  bool unavailable = false;
  receive_reply(
      waiting, [&](cart_actor&) {},
      [&](caf::error& err) {
        unavailable = to_cart_errc(err) == cart_errc::unavailable;
      });
  BOOST_CHECK(unavailable);
  BOOST_CHECK_EQUAL(downs(), 1u);
  auto now = try_resolve(id_owned_by(ab, "a"));
  BOOST_REQUIRE(now);
  BOOST_CHECK(is(*now, cart_errc::unavailable));
  BOOST_CHECK(!w->states.back().serving);
}

BOOST_AUTO_TEST_CASE(a_lease_granted_again_after_its_clock_ran_out_serves) {
  // The membership worker renewed too late for the lease clock, but the
  // database still accepted the renewal: it grants the lease again (same
  // incarnation, no rejoin).
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto mine = id_owned_by(ab, "a");
  auto cart = try_resolve(mine);
  BOOST_REQUIRE(cart && *cart);
  lease->revoke();
  fire_timers(); // the router's check sees the clock run out
  BOOST_CHECK(!w->states.back().serving);
  lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
  grant_lease();
  BOOST_CHECK(w->states.back().serving);
  auto again = try_resolve(mine);
  BOOST_REQUIRE(again);
  BOOST_CHECK(*again && **again);
  // And it takes part in the next view's handover.
  install(2, {member("a", 4000, 1), member("b", 4001, 1)});
  BOOST_TEST(w->acks == (std::vector<uint64_t>{1, 1, 2}));
}

BOOST_AUTO_TEST_CASE(a_view_handed_over_while_the_clock_had_run_out_is_redone) {
  // The lease clock runs out and, before the router's check of it runs, a
  // new view comes: its handover releases every cart and acknowledges
  // nothing. The late renewal is then accepted and the lease granted again:
  // the view's handover runs again and acknowledges it (otherwise no node
  // could ever activate a cart that moved under it).
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto mine = id_owned_by(ab, "a");
  auto cart = try_resolve(mine);
  BOOST_REQUIRE(cart && *cart);
  watcher->monitor(**cart);
  lease->revoke();
  install(2, {member("a", 4000, 1), member("b", 4001, 2)});
  BOOST_CHECK_EQUAL(downs(), 1u);
  BOOST_TEST(w->acks == (std::vector<uint64_t>{1}));
  lease->extend_to(cluster_lease::clock_type::now() + std::chrono::hours{1});
  grant_lease();
  BOOST_TEST(w->acks == (std::vector<uint64_t>{1, 2}));
  install(2, {member("a", 4000, 2), member("b", 4001, 2)});
  auto again = try_resolve(mine);
  BOOST_REQUIRE(again);
  BOOST_CHECK(*again && **again);
}

BOOST_AUTO_TEST_CASE(the_membership_taking_the_lease_away_releases_every_cart) {
  start_router();
  grant_lease();
  install(1, {member("a", 4000, 1)});
  auto cart = try_resolve("cart-1");
  BOOST_REQUIRE(cart && *cart);
  watcher->monitor(**cart);
  caf::anon_send(caf::actor_cast<caf::actor>(router), lease_atom::value, false);
  run();
  BOOST_CHECK_EQUAL(downs(), 1u);
  auto now = try_resolve("cart-1");
  BOOST_REQUIRE(now);
  BOOST_CHECK(is(*now, cart_errc::unavailable));
}

BOOST_AUTO_TEST_CASE(a_leave_hands_every_cart_over_then_answers_true) {
  start_router();
  grant_lease();
  add_peer(4001);
  install(1, {member("a", 4000, 1), member("b", 4001, 1)});
  auto cart = try_resolve(id_owned_by(ab, "a"));
  BOOST_REQUIRE(cart && *cart);
  watcher->monitor(**cart);
  w->leave_view = 2;
  auto leave = self->request(router, caf::infinite, leave_atom::value);
  run();
  BOOST_CHECK(self->mailbox().empty()); // view 2 not installed yet
  install(2,
          {member("a", 4000, 1, member_status::leaving), member("b", 4001, 2)});
  bool left = false;
  receive_reply(
      leave, [&](bool x) { left = x; },
      [&](caf::error& err) { BOOST_ERROR(sys.render(err)); });
  BOOST_CHECK(left);
  BOOST_CHECK_EQUAL(downs(), 1u);
  BOOST_TEST(w->acks == (std::vector<uint64_t>{1, 2}));
  // Still forwarding while HTTP drains: the cart is b's now.
  auto moved = try_resolve(id_owned_by(ab, "a"));
  BOOST_REQUIRE(moved && *moved);
  BOOST_CHECK_EQUAL(w->routed.size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
