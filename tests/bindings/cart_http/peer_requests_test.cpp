#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "bindings/cart_http/peer_requests.hpp"

using namespace cartd;

namespace {

// Nodes are numbers, targets (remote actors) strings.
using registry = peer_requests<int, std::string>;

} // namespace

BOOST_AUTO_TEST_CASE(a_reply_settles_its_request_once) {
  registry peers;
  int rerouted = 0;
  auto token = peers.track(2, "cart-a", [&] { ++rerouted; });
  BOOST_TEST(peers.in_flight(2) == 1u);
  BOOST_TEST(peers.settle(token));
  BOOST_TEST(!peers.settle(token));
  BOOST_TEST(peers.in_flight(2) == 0u);
  // Settled requests are not routed again when their node or actor goes.
  BOOST_TEST(peers.on_peer_down(2) == 0u);
  BOOST_TEST(peers.on_target_down("cart-a") == 0u);
  BOOST_TEST(rerouted == 0);
}

BOOST_AUTO_TEST_CASE(a_node_going_down_reroutes_exactly_its_requests) {
  registry peers;
  std::vector<std::string> rerouted;
  auto a1 = peers.track(1, "x", [&] { rerouted.push_back("a1"); });
  auto b1 = peers.track(2, "y", [&] { rerouted.push_back("b1"); });
  auto a2 = peers.track(1, "z", [&] { rerouted.push_back("a2"); });
  BOOST_TEST(peers.on_peer_down(1) == 2u);
  BOOST_TEST(rerouted.size() == 2u);
  BOOST_TEST(peers.in_flight(1) == 0u);
  BOOST_TEST(peers.in_flight(2) == 1u);
  // Late replies of the re-routed requests are ignored...
  BOOST_TEST(!peers.settle(a1));
  BOOST_TEST(!peers.settle(a2));
  // ... and the other node's request is untouched.
  BOOST_TEST(peers.settle(b1));
  // Nothing is routed twice: not by the node, not by its actors.
  BOOST_TEST(peers.on_peer_down(1) == 0u);
  BOOST_TEST(peers.on_target_down("x") == 0u);
  BOOST_TEST(rerouted.size() == 2u);
}

BOOST_AUTO_TEST_CASE(an_actor_going_down_reroutes_exactly_its_requests) {
  // A cart on a live node passivated or moved: requests through its proxy
  // are dropped by CAF, so they are routed again when its down_msg comes.
  registry peers;
  int to_x = 0;
  int to_y = 0;
  peers.track(1, "x", [&] { ++to_x; });
  peers.track(1, "x", [&] { ++to_x; });
  auto y = peers.track(1, "y", [&] { ++to_y; });
  BOOST_TEST(peers.on_target_down("x") == 2u);
  BOOST_TEST(to_x == 2);
  BOOST_TEST(peers.in_flight(1) == 1u);
  // The node going down later reroutes only what is left.
  BOOST_TEST(peers.on_peer_down(1) == 1u);
  BOOST_TEST(to_y == 1);
  BOOST_TEST(to_x == 2);
  BOOST_TEST(!peers.settle(y));
  BOOST_TEST(peers.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_reroute_may_track_new_requests_while_running) {
  registry peers;
  int second_node_requests = 0;
  peers.track(1, "x", [&] {
    // Re-routing sends the request to another node (or the same one, which
    // came back under a new connection).
    peers.track(3, "w", [&] { ++second_node_requests; });
    peers.track(1, "x2", [&] { ++second_node_requests; });
  });
  BOOST_TEST(peers.on_peer_down(1) == 1u);
  BOOST_TEST(peers.in_flight(3) == 1u);
  BOOST_TEST(peers.in_flight(1) == 1u);
  BOOST_TEST(peers.size() == 2u);
  BOOST_TEST(peers.on_peer_down(3) == 1u);
  BOOST_TEST(second_node_requests == 1);
}
