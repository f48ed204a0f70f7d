#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "bindings/cart_http/peer_requests.hpp"

using namespace cartd;

BOOST_AUTO_TEST_CASE(a_reply_settles_its_request_once) {
  peer_requests<int> peers;
  int rerouted = 0;
  auto token = peers.track(2, [&] { ++rerouted; });
  BOOST_TEST(peers.in_flight(2) == 1u);
  BOOST_TEST(peers.settle(2, token));
  BOOST_TEST(!peers.settle(2, token));
  BOOST_TEST(peers.in_flight(2) == 0u);
  // Settled requests are not routed again when their node goes down.
  BOOST_TEST(peers.on_peer_down(2) == 0u);
  BOOST_TEST(rerouted == 0);
}

BOOST_AUTO_TEST_CASE(a_node_going_down_reroutes_exactly_its_requests) {
  peer_requests<int> peers;
  std::vector<std::string> rerouted;
  auto a1 = peers.track(1, [&] { rerouted.push_back("a1"); });
  auto b1 = peers.track(2, [&] { rerouted.push_back("b1"); });
  auto a2 = peers.track(1, [&] { rerouted.push_back("a2"); });
  BOOST_TEST(peers.on_peer_down(1) == 2u);
  BOOST_TEST(rerouted.size() == 2u);
  BOOST_TEST(peers.in_flight(1) == 0u);
  BOOST_TEST(peers.in_flight(2) == 1u);
  // Late replies of the re-routed requests are ignored...
  BOOST_TEST(!peers.settle(1, a1));
  BOOST_TEST(!peers.settle(1, a2));
  // ... and the other node's request is untouched.
  BOOST_TEST(peers.settle(2, b1));
  // A node goes down once per event: nothing is routed twice.
  BOOST_TEST(peers.on_peer_down(1) == 0u);
  BOOST_TEST(rerouted.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_reroute_may_track_new_requests_while_running) {
  peer_requests<int> peers;
  int second_node_requests = 0;
  peers.track(1, [&] {
    // Re-routing sends the request to another node (or the same one, which
    // came back under a new connection).
    peers.track(3, [&] { ++second_node_requests; });
    peers.track(1, [&] { ++second_node_requests; });
  });
  BOOST_TEST(peers.on_peer_down(1) == 1u);
  BOOST_TEST(peers.in_flight(3) == 1u);
  BOOST_TEST(peers.in_flight(1) == 1u);
  BOOST_TEST(peers.size() == 2u);
  BOOST_TEST(peers.on_peer_down(3) == 1u);
  BOOST_TEST(second_node_requests == 1);
}
