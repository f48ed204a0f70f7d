// GET /dashboard in a real browser: headless Chromium loads the page from a
// running node while clients add to carts, runs its scripts (they poll
// /metrics, /cluster and /ready) and dumps the DOM, which the test reads
// through the page's stable ids and data attributes.
//
//   test ──load──► node ◄──GET dashboard, metrics, cluster, ready── chromium
//                                          (--virtual-time-budget: several
//                                           polls, then --dump-dom)
//
// Virtual time: the page's 2 s poll timer fires at once, but requests take
// real time; so rates in the dump are small, yet non-zero while the load
// runs (that is what is checked, not their size).

#define BOOST_TEST_MODULE e2e_dashboard
#include "tests/e2e/cluster.hpp"

#include <atomic>
#include <cstdio>
#include <regex>
#include <thread>

#ifndef CARTD_CHROMIUM
#error "CARTD_CHROMIUM must name the chromium executable"
#endif

using namespace cartd::test;

namespace {

/// The DOM of `url` after the page ran for `budget_ms` of virtual time.
std::string dump_dom(const std::string& url, int budget_ms = 12000) {
  auto command = std::string{"timeout 120 "} + CARTD_CHROMIUM +
                 " --headless --no-sandbox --disable-gpu"
                 " --virtual-time-budget=" +
                 std::to_string(budget_ms) + " --dump-dom '" + url +
                 "' 2>/dev/null";
  std::string result;
  auto* pipe = ::popen(command.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(pipe != nullptr, "cannot run " << command);
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    result.append(buf, n);
  auto status = ::pclose(pipe);
  BOOST_TEST_REQUIRE(status == 0, command << " ended with " << status);
  return result;
}

/// The start tag of the first element carrying `marker` (e.g.
/// `data-route="/x"`), or "".
std::string tag_with(const std::string& dom, const std::string& marker) {
  auto at = dom.find(marker);
  if (at == std::string::npos)
    return {};
  auto begin = dom.rfind('<', at);
  auto end = dom.find('>', at);
  if (begin == std::string::npos || end == std::string::npos)
    return {};
  return dom.substr(begin, end - begin + 1);
}

/// The value of attribute `name` in start tag `tag` (nothing: absent).
std::optional<std::string> attr(const std::string& tag,
                                const std::string& name) {
  auto key = " " + name + "=\"";
  auto at = tag.find(key);
  if (at == std::string::npos)
    return std::nullopt;
  at += key.size();
  auto end = tag.find('"', at);
  if (end == std::string::npos)
    return std::nullopt;
  return tag.substr(at, end - at);
}

/// `attr` as a number (NaN when absent or empty).
double number(const std::string& tag, const std::string& name) {
  auto text = attr(tag, name);
  if (!text || text->empty())
    return std::nan("");
  return std::strtod(text->c_str(), nullptr);
}

/// Clients adding to carts on `port` until the object is destroyed.
class background_load {
public:
  explicit background_load(uint16_t port, std::string prefix, int clients = 3) {
    for (int i = 0; i < clients; ++i)
      threads_.emplace_back([this, port, prefix, i] {
        try {
          http_connection conn{port};
          for (int n = 0; !stop_; ++n) {
            auto cart =
                prefix + std::to_string(i) + "-" + std::to_string(n % 20);
            auto res = conn.exchange("POST", items_path(cart),
                                     R"({"item":"apple","quantity":1})",
                                     {{"Content-Type", "application/json"}});
            if (res.result_int() == 200u)
              ++acked_;
          }
        } catch (const std::exception&) {
          failed_ = true;
        }
      });
  }

  ~background_load() {
    stop_ = true;
    for (auto& t : threads_)
      t.join();
  }

  int acked() const { return acked_; }
  bool failed() const { return failed_; }

private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int> acked_{0};
  std::vector<std::thread> threads_;
};

/// Checks what the page shows of a node under load: it read /metrics at
/// least twice, the node is ready, and the add route has a non-zero rate
/// with latency percentiles. `port` serves the page: a build without
/// GET /metrics must make the page say so (nothing else to check then).
void check_live_metrics(const std::string& dom, uint16_t port) {
  BOOST_TEST_CONTEXT("DOM:\n" << dom.substr(0, 4000)) {
    auto body = tag_with(dom, "data-polls=");
    if (http_call(port, "GET", "/metrics").result_int() == 404u) {
      BOOST_TEST_MESSAGE("this build serves no /metrics: rates not checked");
      BOOST_TEST(attr(body, "data-metrics").value_or("") == "missing");
      return;
    }
    BOOST_TEST(attr(body, "data-metrics").value_or("") == "ok");
    BOOST_TEST(number(body, "data-polls") >= 2);
    BOOST_TEST(attr(tag_with(dom, "id=\"ready\""), "data-ready").value_or("") ==
               "true");
    auto route = tag_with(dom, R"(data-route="/carts/{cart}/items")");
    BOOST_TEST_REQUIRE(!route.empty(), "the add route is not listed");
    BOOST_TEST(number(route, "data-rps") > 0);
    BOOST_TEST(number(route, "data-p99") > 0);
    BOOST_TEST(number(route, "data-p50") <= number(route, "data-p99"));
    BOOST_TEST(number(tag_with(dom, "id=\"total-rps\""), "data-value") > 0);
    BOOST_TEST(number(tag_with(dom, "id=\"carts-resident\""), "data-value") >
               0);
    BOOST_TEST(number(tag_with(dom, "id=\"journal-rate\""), "data-value") >= 0);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(the_page_is_self_contained_html) {
  test_node node;
  auto res = http_call(node.port(), "GET", "/dashboard");
  BOOST_TEST(res.result_int() == 200u);
  BOOST_TEST(res[boost::beast::http::field::content_type] ==
             "text/html; charset=utf-8");
  auto& page = res.body();
  BOOST_TEST(page.find("<canvas") != std::string::npos);
  // Nothing loaded from elsewhere (the node may have no internet), and the
  // endpoints read with relative URLs (behind a proxy's prefix too).
  for (auto* bad : {"<script src", "<link", "http://", "https://", "@import",
                    "url(", "fetch(\"/"})
    BOOST_TEST(page.find(bad) == std::string::npos, bad);
  for (auto* endpoint :
       {"fetch(\"metrics\"", "fetch(\"cluster\"", "fetch(\"ready\""})
    BOOST_TEST(page.find(endpoint) != std::string::npos, endpoint);
}

BOOST_AUTO_TEST_CASE(one_node_shows_itself_and_its_request_rate) {
  test_node node;
  auto port = node.port();
  background_load load{port, "dash-one-"};
  auto dom =
      dump_dom("http://127.0.0.1:" + std::to_string(port) + "/dashboard");
  BOOST_TEST(!load.failed());
  BOOST_TEST(load.acked() > 0);
  auto self = "127.0.0.1:" + std::to_string(port);
  BOOST_TEST_CONTEXT("DOM:\n" << dom.substr(0, 4000)) {
    BOOST_TEST(attr(tag_with(dom, "id=\"mode\""), "data-mode").value_or("") ==
               "single");
    auto member = tag_with(dom, "data-member=\"" + self + "\"");
    BOOST_TEST_REQUIRE(!member.empty(), "this node is not listed");
    BOOST_TEST(attr(member, "data-status").value_or("") == "up");
    BOOST_TEST(attr(member, "data-self").value_or("") == "true");
  }
  check_live_metrics(dom, port);
}

BOOST_AUTO_TEST_CASE(on_the_admin_listener_it_reads_that_listener) {
  test_node node{{"--admin.port=0", "--admin.host=127.0.0.1",
                  "--admin.port-file=admin-port"}};
  auto admin = node.proc().wait_port_file("admin-port");
  background_load load{node.port(), "dash-admin-"};
  auto dom =
      dump_dom("http://127.0.0.1:" + std::to_string(admin) + "/dashboard");
  // Traffic on the public port, seen through the admin port's /metrics.
  check_live_metrics(dom, admin);
}

BOOST_AUTO_TEST_CASE(a_cluster_node_lists_every_member) {
  test_cluster cluster{"dash_cluster", 2};
  background_load load{cluster.port(0), "dash-cl-"};
  auto dom = dump_dom("http://127.0.0.1:" + std::to_string(cluster.port(1)) +
                      "/dashboard");
  BOOST_TEST_CONTEXT("DOM:\n" << dom.substr(0, 4000)) {
    BOOST_TEST(attr(tag_with(dom, "id=\"mode\""), "data-mode").value_or("") ==
               "cluster");
    BOOST_TEST(attr(tag_with(dom, "id=\"node\""), "data-node").value_or("") ==
               "n1");
    for (auto* name : {"n0", "n1"}) {
      auto member = tag_with(dom, std::string{"data-member=\""} + name + "\"");
      BOOST_TEST_REQUIRE(!member.empty(), name << " is not listed");
      BOOST_TEST(attr(member, "data-status").value_or("") == "up");
      BOOST_TEST(attr(member, "data-self").value_or("") ==
                 (std::string{name} == "n1" ? "true" : "false"));
    }
  }
}
