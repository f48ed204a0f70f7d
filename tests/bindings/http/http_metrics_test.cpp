// The HTTP metrics observer: what each exchange counts, under which labels.

#include "bindings/http/http_metrics.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

using namespace cartd;
using verb = boost::beast::http::verb;

namespace {

struct fixture {
  std::shared_ptr<metrics::node_metrics> m =
      std::make_shared<metrics::node_metrics>(
          std::make_shared<metrics::registry>(), false);
  http::metrics_observer obs{m};

  void answer(verb method, std::string route, unsigned status,
              std::chrono::microseconds took) {
    // A route whose text lives in a buffer that is reused: the observer
    // must label by text, not by address.
    buffer = std::move(route);
    http::exchange ex;
    ex.method = method;
    ex.route = buffer;
    ex.path = "/carts/c1/items";
    ex.status = status;
    ex.started = std::chrono::steady_clock::time_point{};
    ex.finished = ex.started + took;
    obs.on_exchange(ex);
    buffer.assign(buffer.size(), 'x');
  }

  uint64_t requests(std::string_view method, std::string_view route,
                    std::string_view status) {
    return m->http_requests.with({method, route, status}).value();
  }

  std::string buffer;
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_metrics, fixture)

BOOST_AUTO_TEST_CASE(each_exchange_counts_once_under_its_route_template) {
  using std::chrono::microseconds;
  answer(verb::post, "/carts/{cart}/items", 201, microseconds{300});
  answer(verb::post, "/carts/{cart}/items", 201, microseconds{300});
  answer(verb::get, "/carts/{cart}", 200, microseconds{50});
  answer(verb::post, "/carts/{cart}/items", 400, microseconds{20});
  answer(verb::head, "/carts/{cart}", 200, microseconds{20});
  BOOST_CHECK_EQUAL(requests("POST", "/carts/{cart}/items", "201"), 2u);
  BOOST_CHECK_EQUAL(requests("POST", "/carts/{cart}/items", "400"), 1u);
  BOOST_CHECK_EQUAL(requests("GET", "/carts/{cart}", "200"), 1u);
  BOOST_CHECK_EQUAL(requests("HEAD", "/carts/{cart}", "200"), 1u);
  auto& items = m->http_request_duration.with({"/carts/{cart}/items"});
  auto counts = items.cumulative_counts();
  BOOST_CHECK_EQUAL(counts.back(), 3u);
  BOOST_CHECK_CLOSE(items.sum(), 0.00062, 1e-6);
  // 20 us in the first bucket (le=0.0001), 300 us from le=0.0005 on.
  BOOST_CHECK_EQUAL(counts[0], 1u);
  BOOST_CHECK_EQUAL(counts[1], 1u);
  BOOST_CHECK_EQUAL(counts[2], 3u);
}

BOOST_AUTO_TEST_CASE(unrouted_requests_are_labelled_unmatched) {
  answer(verb::get, "", 404, std::chrono::microseconds{1});
  answer(verb::unknown, "", 400, std::chrono::microseconds{0});
  BOOST_CHECK_EQUAL(requests("GET", "unmatched", "404"), 1u);
  BOOST_CHECK_EQUAL(requests("unknown", "unmatched", "400"), 1u);
  auto text = m->registry().render();
  BOOST_CHECK(text.find("/carts/c1") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_connection_gauge_follows_the_server) {
  obs.on_connections(3);
  BOOST_CHECK_EQUAL(m->http_connections.value(), 3);
  obs.on_connections(0);
  BOOST_CHECK_EQUAL(m->http_connections.value(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
