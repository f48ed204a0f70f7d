// End-to-end tests of a cluster: real cartd processes in cluster mode on one
// throwaway PostgreSQL server (one per test binary), each test case a cluster
// of its own (a schema of its own).
//
//   clients ──► n0 ─┐   BASP    ┌──► PostgreSQL: journal + members
//   clients ──► n1 ─┼─ mesh ────┤
//   clients ──► n2 ─┘           └── (schema per test)
//
// Client threads never call Boost.Test macros (they are not thread-safe);
// they record what they saw and the main thread checks it after joining.

#define BOOST_TEST_MODULE e2e_cluster
#include "tests/e2e/e2e.hpp"
#include "tests/e2e/keyed_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/cluster.hpp"
#include "tests/e2e/metrics.hpp"

using namespace cartd::test;

namespace {

/// Which node answers for cart `id` (asked through the node at `port`).
std::string owner_of(uint16_t port, const std::string& id) {
  return answered_by(http_call(port, "GET", cart_path(id)));
}

/// No request of the keyed clients failed (a 5xx or a broken exchange):
/// requests waiting on a node that died, froze or left were routed again at
/// once instead of being left to time out.
void check_no_failed_request(const std::vector<keyed_log>& logs) {
  for (size_t i = 0; i < logs.size(); ++i)
    BOOST_TEST(
        logs[i].retries == 0,
        "client " << i << ": " << logs[i].retries
                  << " retries, 5xx: " << logs[i].server_errors.size()
                  << (logs[i].server_errors.empty()
                          ? std::string{}
                          : ", first: " + logs[i].server_errors.front()));
}

} // namespace

BOOST_AUTO_TEST_CASE(cluster_mode_refuses_to_start_without_postgres) {
  for (auto backend : {"sqlite", "memory"}) {
    temp_dir data;
    auto res = cartd_process::run(
        cartd_binary(),
        {"--cluster.enabled", std::string{"--storage.backend="} + backend,
         "--storage.path=" + data.path(), "--cluster.node=a"},
        30s);
    BOOST_REQUIRE(res.status);
    BOOST_TEST_CONTEXT("stderr: " << res.err) {
      BOOST_TEST(res.status->code == 2);
      BOOST_TEST(res.err.find("cluster.enabled needs "
                              "--storage.backend=postgres") !=
                 std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(any_node_serves_any_cart_and_carts_spread_over_all) {
  test_cluster c{"spread", 3};
  constexpr int carts = 30;
  std::map<std::string, int> per_node;
  for (int i = 0; i < carts; ++i) {
    auto id = "s" + std::to_string(i);
    auto res = call(c.port(i % 3), "POST", items_path(id), add_body("x", 2));
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
    auto owner = answered_by(res);
    BOOST_TEST(!owner.empty(), "no Cartd-Node on a cart response");
    ++per_node[owner];
    // Every node serves the cart, and the same node's cart answers.
    for (size_t n = 0; n < c.size(); ++n) {
      auto got = call(c.port(n), "GET", cart_path(id));
      BOOST_TEST(got.result_int() == 200u);
      BOOST_TEST(answered_by(got) == owner);
      BOOST_TEST(quantity_of(body_json(got), "x") == 2);
    }
  }
  BOOST_TEST_MESSAGE("carts per node: " << per_node["n0"] << " "
                                        << per_node["n1"] << " "
                                        << per_node["n2"]);
  BOOST_TEST(per_node.size() == 3u, "carts are not on every node");
  for (auto& [name, count] : per_node)
    BOOST_TEST(c.alive_names().count(name) == 1u, name);
  // Refusals from a cart carry the header too.
  auto refused = call(c.port(0), "DELETE", item_path("s0", "nope"));
  BOOST_TEST(refused.result_int() == 404u);
  BOOST_TEST(!answered_by(refused).empty());
}

BOOST_AUTO_TEST_CASE(get_cluster_shows_every_member) {
  test_cluster c{"members", 2};
  auto res = call(c.port(1), "GET", "/cluster");
  BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  auto body = body_json(res);
  BOOST_TEST(body["self"] == "n1");
  BOOST_TEST(body["view"].get<uint64_t>() >= 1u);
  BOOST_REQUIRE_EQUAL(body["members"].size(), 2u);
  for (auto& m : body["members"]) {
    BOOST_TEST(m["status"] == "up");
    BOOST_TEST(m["http"].get<std::string>().rfind("127.0.0.1:", 0) == 0u);
    BOOST_TEST(!m["cluster"].get<std::string>().empty());
    auto since = m["since"].get<std::string>();
    BOOST_TEST(since.size() == 24u, since);
    BOOST_TEST(since.back() == 'Z', since);
  }
  // Its metrics: the members and the view it installed, and a request
  // counted as forwarded exactly when it went to the other node's cart.
  auto text = scrape(c.port(1));
  BOOST_TEST(sample(text, "cartd_cluster_members") == 2);
  BOOST_TEST(sample(text, "cartd_cluster_view") == body["view"].get<double>());
  bool local_seen = false;
  bool remote_seen = false;
  for (int i = 0; i < 40 && !(local_seen && remote_seen); ++i) {
    auto id = "mf" + std::to_string(i);
    auto before = sample(scrape(c.port(1)), "cartd_cluster_forwarded_total");
    auto added = call(c.port(1), "POST", items_path(id), add_body("x"));
    BOOST_REQUIRE_EQUAL(added.result_int(), 200u);
    auto after = sample(scrape(c.port(1)), "cartd_cluster_forwarded_total");
    bool remote = answered_by(added) != "n1";
    BOOST_TEST(after - before == (remote ? 1 : 0),
               id << " answered by " << answered_by(added));
    (remote ? remote_seen : local_seen) = true;
  }
  BOOST_TEST(local_seen);
  BOOST_TEST(remote_seen);
}

BOOST_AUTO_TEST_CASE(a_change_through_one_node_is_read_through_every_other) {
  test_cluster c{"ryw", 3};
  for (int i = 0; i < 60; ++i) {
    auto id = "r" + std::to_string(i % 12);
    auto writer = static_cast<size_t>(i % 3);
    auto res = call(c.port(writer), "POST", items_path(id), add_body("x"));
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
    auto version = body_json(res)["version"].get<uint64_t>();
    for (size_t reader = 0; reader < c.size(); ++reader) {
      auto got = call(c.port(reader), "GET", cart_path(id));
      BOOST_TEST(body_json(got)["version"].get<uint64_t>() == version,
                 "read through n" << reader << " after a write through n"
                                  << writer);
    }
  }
}

BOOST_AUTO_TEST_CASE(concurrent_adds_to_one_cart_through_every_node_sum_up) {
  test_cluster c{"sum", 3};
  constexpr int per_client = 60;
  constexpr int clients_per_node = 2;
  std::atomic<bool> stopping{false};
  std::vector<int> ok(c.size() * clients_per_node, 0);
  std::vector<std::string> broken(ok.size());
  {
    client_threads threads{stopping};
    for (size_t i = 0; i < ok.size(); ++i)
      threads.start([&, i] {
        try {
          http_connection conn{c.port(i % c.size())};
          for (int n = 0; n < per_client; ++n) {
            auto res = conn.exchange("POST", "/carts/one/items", add_body("i"));
            if (res.result_int() == 200u)
              ++ok[i];
            else
              broken[i] = std::to_string(res.result_int()) + " " + res.body();
          }
        } catch (const std::exception& ex) {
          broken[i] = ex.what();
        }
      });
  }
  int total = 0;
  for (size_t i = 0; i < ok.size(); ++i) {
    BOOST_TEST(broken[i].empty(), "client " << i << ": " << broken[i]);
    total += ok[i];
  }
  BOOST_TEST(total == per_client * static_cast<int>(ok.size()));
  for (size_t n = 0; n < c.size(); ++n)
    BOOST_TEST(quantity_of(body_json(call(c.port(n), "GET", "/carts/one")),
                           "i") == total);
}

BOOST_AUTO_TEST_CASE(kill_9_of_a_node_under_keyed_load_loses_nothing) {
  test_cluster c{"kill9", 3};
  const std::string prefix = "k9-";
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port0{c.port(0)};
  std::atomic<uint16_t> port1{c.port(1)};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  // Carts the victim (n2) owns.
  std::vector<std::string> victims;
  for (int i = 0; i < load_carts; ++i)
    if (owner_of(c.port(0), load_cart(prefix, i)) == "n2")
      victims.push_back(load_cart(prefix, i));
  BOOST_TEST_MESSAGE("carts on n2: " << victims.size());
  BOOST_REQUIRE(!victims.empty());
  // A cart of n2 outside the load, written once n2 is gone.
  std::string probe;
  for (int i = 0; probe.empty() && i < 1000; ++i)
    if (owner_of(c.port(0), "k9-probe-" + std::to_string(i)) == "n2")
      probe = "k9-probe-" + std::to_string(i);
  BOOST_REQUIRE(!probe.empty());
  auto wait_acked = [&](int n) {
    auto deadline = steady_clock::now() + 30s;
    while (acked.load() < n && steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  };
  {
    client_threads threads{stopping};
    for (int i = 0; i < load_clients; ++i)
      threads.start(drive_keyed_adds, std::cref(i % 2 == 0 ? port0 : port1),
                    prefix, i, std::cref(stopping), std::ref(acked),
                    std::ref(logs[i]));
    wait_acked(300);
    auto killed_at = steady_clock::now();
    kill_hard(c.node(2));
    c.gone(2);
    auto at_kill = acked.load();
    // The dead node's carts are written again through the survivors.
    auto served_again = steady_clock::time_point{};
    while (steady_clock::now() < killed_at + 20s) {
      auto res =
          http_call(c.port(0), "POST", items_path(probe), add_body("probe"));
      if (res.result_int() == 200u) {
        served_again = steady_clock::now();
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    BOOST_REQUIRE_MESSAGE(served_again != steady_clock::time_point{},
                          "n2's cart was not written again within 20 s");
    BOOST_TEST_MESSAGE("n2's cart written again "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(
                              served_again - killed_at)
                              .count()
                       << " ms after the kill");
    BOOST_TEST(answered_by(http_call(c.port(0), "GET", cart_path(probe))) !=
               "n2");
    BOOST_TEST(answered_by(http_call(c.port(0), "GET",
                                     cart_path(victims.front()))) != "n2");
    wait_acked(at_kill + 300);
  }
  check_no_failed_request(logs);
  BOOST_TEST(c.wait_formed(10s));
  check_every_logical_add_once(c.port(1), prefix, logs);
}

BOOST_AUTO_TEST_CASE(a_frozen_owner_acknowledges_nothing_after_its_lease) {
  test_cluster c{"frozen", 3};
  const std::string prefix = "fz-";
  // Carts n2 owns.
  std::vector<std::string> frozen_carts;
  for (int i = 0; i < load_carts; ++i)
    if (owner_of(c.port(0), load_cart(prefix, i)) == "n2")
      frozen_carts.push_back(load_cart(prefix, i));
  BOOST_REQUIRE(!frozen_carts.empty());
  // Clients write through n0 and n1 (keyed, retrying) while n2 is frozen.
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port0{c.port(0)};
  std::atomic<uint16_t> port1{c.port(1)};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  // Requests sent straight to the frozen node while it is frozen: each
  // adds an item of its own, unkeyed, to one of its carts.
  std::vector<http_connection> to_frozen;
  std::vector<std::pair<std::string, std::string>> sent; // cart, item
  {
    client_threads threads{stopping};
    for (int i = 0; i < load_clients; ++i)
      threads.start(drive_keyed_adds, std::cref(i % 2 == 0 ? port0 : port1),
                    prefix, i, std::cref(stopping), std::ref(acked),
                    std::ref(logs[i]));
    auto deadline = steady_clock::now() + 30s;
    while (acked.load() < 200 && steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    for (int i = 0; i < 8; ++i)
      to_frozen.emplace_back(c.port(2), 30s);
    c.node(2).proc().kill(SIGSTOP);
    for (size_t i = 0; i < to_frozen.size(); ++i) {
      auto cart = frozen_carts[i % frozen_carts.size()];
      auto item = "late" + std::to_string(i);
      sent.emplace_back(cart, item);
      to_frozen[i].send(request_text("POST", items_path(cart), add_body(item)));
    }
    // Frozen for twice its lease: the others removed it and took its carts.
    std::this_thread::sleep_for(3500ms);
    auto at_freeze_end = acked.load();
    c.node(2).proc().kill(SIGCONT);
    auto until = steady_clock::now() + 30s;
    while (acked.load() < at_freeze_end + 200 && steady_clock::now() < until)
      std::this_thread::sleep_for(5ms);
    BOOST_TEST(acked.load() >= at_freeze_end + 200);
  }
  // What the frozen node answered to what it got while frozen: nothing is
  // acknowledged unless it is stored (by whichever node owns the cart now).
  int acknowledged = 0;
  int refused = 0;
  for (size_t i = 0; i < to_frozen.size(); ++i) {
    std::optional<http_response> res;
    try {
      res = to_frozen[i].read_response();
    } catch (const std::exception&) {
    }
    if (!res)
      continue;
    auto [cart, item] = sent[i];
    if (res->result_int() == 200u) {
      ++acknowledged;
      BOOST_TEST(answered_by(*res) != "",
                 "an acknowledgement without Cartd-Node");
      auto now = body_json(call(c.port(0), "GET", cart_path(cart)));
      BOOST_TEST(quantity_of(now, item) == 1,
                 "acknowledged by the frozen node but not stored: " << item);
    } else {
      ++refused;
      BOOST_TEST(res->result_int() == 503u, res->body());
    }
  }
  BOOST_TEST_MESSAGE("requests to the frozen node: " << acknowledged
                                                     << " acknowledged (and "
                                                        "stored), "
                                                     << refused << " refused");
  check_no_failed_request(logs);
  BOOST_TEST(c.wait_formed(20s), "n2 did not rejoin");
  check_every_logical_add_once(c.port(0), prefix, logs);
}

namespace {

/// Whether every cart in `carts` is served through every node of `c` with
/// one `item` in it, polled until `bound` passes.
bool all_served(test_cluster& c, const std::vector<std::string>& carts,
                const std::string& item, std::chrono::milliseconds bound) {
  auto deadline = steady_clock::now() + bound;
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < c.size() && all; ++i)
      for (auto& cart : carts) {
        try {
          auto res = http_call(c.port(i), "GET", cart_path(cart));
          auto body = json::parse(res.body(), nullptr, false);
          all = res.result_int() == 200u && !body.is_discarded() &&
                quantity_of(body, item) == 1;
        } catch (const std::exception&) {
          all = false;
        }
        if (!all)
          break;
      }
    if (all)
      return true;
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(50ms);
  }
}

bool contains(const std::string& text, const char* what) {
  return text.find(what) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_node_paused_past_its_lease_clock_but_not_its_lease) {
  // A node too slow to renew in time (starved of CPU, paused): its own
  // lease clock (renewal sent + lease - lease / 4) runs out and it stops
  // serving, but its row still holds a valid lease by the database's clock,
  // so its next renewal succeeds under the same incarnation and it must
  // serve again (it used to stay a member that served nothing and
  // acknowledged no view, for good). With a 4 s lease and a renewal sent
  // every 300 ms, a pause of 3.35 s begins at most a heartbeat after the
  // last renewal was sent: it outlasts the node's clock (3 s) and ends
  // before the database's lease (4 s) by about 350 ms either way.
  test_cluster c{"hiccup", 2, {}, {"4s", "300ms"}};
  std::vector<std::string> carts; // n1's
  for (int i = 0; carts.size() < 8 && i < 200; ++i)
    if (owner_of(c.port(0), "hc-" + std::to_string(i)) == "n1")
      carts.push_back("hc-" + std::to_string(i));
  BOOST_REQUIRE(!carts.empty());
  for (auto& cart : carts)
    BOOST_REQUIRE_EQUAL(
        call(c.port(0), "POST", items_path(cart), add_body("x")).result_int(),
        200u);
  // Paused until one pause fell in that window (its router saw the clock
  // run out and it did not rejoin), at most three times.
  auto& n1 = c.node(1).proc();
  bool window = false;
  int pauses = 0;
  while (!window && pauses < 3) {
    auto from = n1.stderr_size();
    ++pauses;
    n1.kill(SIGSTOP);
    std::this_thread::sleep_for(3350ms);
    n1.kill(SIGCONT);
    BOOST_REQUIRE_MESSAGE(all_served(c, carts, "x", 30s),
                          "n1's carts are not served 30 s after pause "
                              << pauses);
    auto log = n1.stderr_text(from);
    window = contains(log, "the lease ran out before it was renewed") &&
             !contains(log, "joined as incarnation");
  }
  BOOST_TEST(c.wait_formed(20s));
  BOOST_TEST_MESSAGE("pauses: " << pauses << ", one between the lease clock "
                                << "and the database's lease: "
                                << (window ? "yes" : "no"));
  BOOST_WARN_MESSAGE(window, "no pause fell between n1's lease clock and "
                             "its database lease: the case was not run");
}

BOOST_AUTO_TEST_CASE(a_node_joins_and_another_leaves_under_load) {
  test_cluster c{"joinleave", 2};
  const std::string prefix = "jl-";
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port0{c.port(0)};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  auto wait_acked = [&](int n) {
    auto deadline = steady_clock::now() + 30s;
    while (acked.load() < n && steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  };
  {
    client_threads threads{stopping};
    for (int i = 0; i < load_clients; ++i)
      threads.start(drive_keyed_adds, std::cref(port0), prefix, i,
                    std::cref(stopping), std::ref(acked), std::ref(logs[i]));
    wait_acked(200);
    auto joined = c.add();
    BOOST_REQUIRE(c.wait_formed(20s));
    wait_acked(acked.load() + 200);
    std::set<std::string> owners;
    for (int i = 0; i < load_carts; ++i)
      owners.insert(owner_of(c.port(0), load_cart(prefix, i)));
    BOOST_TEST(owners.count(c.name(joined)) == 1u,
               "the joining node took no carts");
    // n1 leaves gracefully.
    stop_gracefully(c.node(1));
    c.gone(1);
    wait_acked(acked.load() + 200);
  }
  check_no_failed_request(logs);
  BOOST_TEST(c.wait_formed(10s));
  check_every_logical_add_once(c.port(2), prefix, logs);
}

// -- partition (network namespaces; root only) --------------------------------

namespace {

/// Runs `cmd` with /bin/sh; returns its exit status (0: success).
int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

/// A network namespace joined to this one by a veth pair: 10.77.<n>.1 here,
/// 10.77.<n>.2 inside. Removed (with the pair) by the destructor.
class netns {
public:
  explicit netns(int n)
      : name_("cartd-e2e-" + std::to_string(::getpid())),
        host_("cve" + std::to_string(::getpid() % 100000)),
        prefix_("10.77." + std::to_string(n) + ".") {
    ok_ = sh("ip netns add " + name_) == 0 &&
          sh("ip link add " + host_ + " type veth peer name " + host_ + "p") ==
              0 &&
          sh("ip link set " + host_ + "p netns " + name_) == 0 &&
          sh("ip addr add " + here() + "/24 dev " + host_) == 0 &&
          sh("ip -n " + name_ + " addr add " + inside() + "/24 dev " + host_ +
             "p") == 0 &&
          sh("ip link set " + host_ + " up") == 0 &&
          sh("ip -n " + name_ + " link set " + host_ + "p up") == 0 &&
          sh("ip -n " + name_ + " link set lo up") == 0;
  }

  ~netns() {
    sh("ip link del " + host_);
    sh("ip netns del " + name_);
  }

  bool ok() const noexcept { return ok_; }
  const std::string& name() const noexcept { return name_; }
  std::string here() const { return prefix_ + "1"; }
  std::string inside() const { return prefix_ + "2"; }

  /// Cuts (false) or heals (true) the link.
  void link(bool up) { sh("ip link set " + host_ + (up ? " up" : " down")); }

  /// GET `path` on 127.0.0.1:`port` inside the namespace: the status, or 0.
  unsigned get_status(uint16_t port, const std::string& path) const {
    auto cmd =
        "ip netns exec " + name_ +
        " curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:" +
        std::to_string(port) + path;
    std::string out;
    if (auto* p = ::popen(cmd.c_str(), "r")) {
      char buf[16];
      while (auto n = std::fread(buf, 1, sizeof(buf), p))
        out.append(buf, n);
      ::pclose(p);
    }
    return static_cast<unsigned>(std::atoi(out.c_str()));
  }

private:
  std::string name_;
  std::string host_;
  std::string prefix_;
  bool ok_ = false;
};

/// Forwards TCP connections from `host:port` (a free port) to
/// 127.0.0.1:`to`: the namespaced node's way to the test's PostgreSQL
/// server, which listens on loopback only. Cutting the link cuts it too.
class tcp_relay {
public:
  tcp_relay(const std::string& host, uint16_t to) : to_(to) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    socklen_t len = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("tcp_relay: cannot listen on " + host);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    threads_.emplace_back([this] { accept_loop(); });
  }

  ~tcp_relay() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (int fd : fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_)
      t.join();
    ::close(listener_);
    for (int fd : fds_)
      ::close(fd);
  }

  uint16_t port() const noexcept { return port_; }

private:
  void accept_loop() {
    while (!stopping_) {
      int in = ::accept(listener_, nullptr, nullptr);
      if (in < 0)
        return;
      int out = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(to_);
      if (::connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0) {
        ::close(in);
        ::close(out);
        continue;
      }
      std::lock_guard<std::mutex> guard{mtx_};
      fds_.push_back(in);
      fds_.push_back(out);
      threads_.emplace_back([in, out] { pump(in, out); });
      threads_.emplace_back([in, out] { pump(out, in); });
    }
  }

  static void pump(int from, int to) {
    char buf[16384];
    for (;;) {
      auto n = ::recv(from, buf, sizeof(buf), 0);
      if (n <= 0 || ::send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n)
        break;
    }
    ::shutdown(to, SHUT_WR);
  }

  uint16_t to_;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mtx_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

} // namespace

BOOST_AUTO_TEST_CASE(a_partitioned_node_stops_serving_and_rejoins_healed) {
  if (::geteuid() != 0 || sh("command -v ip") != 0 ||
      sh("command -v curl") != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root, ip and curl");
    return;
  }
  // A 10.77.<n>.0/24 no interface uses yet (other suites may run at once).
  int subnet = static_cast<int>(::getpid() % 200) + 20;
  for (int i = 0; i < 200; ++i, subnet = (subnet - 20 + 1) % 200 + 20)
    if (sh("ip -4 -o addr show | grep -q ' 10\\.77\\." +
           std::to_string(subnet) + "\\.'") != 0)
      break;
  netns ns{subnet};
  BOOST_REQUIRE_MESSAGE(ns.ok(), "cannot set up the network namespace");
  tcp_relay relay{ns.here(), cluster_db().port()};
  const std::string schema = "partition";
  auto node_args = [&](const std::string& name, const std::string& host,
                       const std::string& pg_host, uint16_t pg_port) {
    return std::vector<std::string>{
        "--storage.backend=postgres",
        "--storage.postgres=host=" + pg_host +
            " port=" + std::to_string(pg_port) +
            " user=postgres dbname=postgres connect_timeout=2",
        "--storage.postgres-schema=" + schema,
        "--cluster.enabled",
        "--cluster.node=" + name,
        "--cluster.host=" + host,
        std::string{"--cluster.lease="} + test_cluster::lease,
        std::string{"--cluster.heartbeat="} + test_cluster::heartbeat,
        "--http.request-timeout=5s"};
  };
  // n0 and n1 here, publishing on the veth's address so n2 reaches them.
  test_node n0{node_args("n0", ns.here(), "127.0.0.1", cluster_db().port())};
  test_node n1{node_args("n1", ns.here(), "127.0.0.1", cluster_db().port())};
  // n2 in the namespace, on PostgreSQL through the relay.
  auto n2_args = node_args("n2", ns.inside(), ns.here(), relay.port());
  n2_args.push_back("--http.host=0.0.0.0");
  n2_args.insert(n2_args.begin(), {"netns", "exec", ns.name(), cartd_binary()});
  cartd_process n2{"/usr/sbin/ip", n2_args};
  stderr_on_failure n2_log{n2};
  auto members_up = [&](uint16_t port) {
    std::set<std::string> up;
    try {
      auto body = json::parse(http_call(port, "GET", "/cluster").body());
      for (auto& m : body["members"])
        if (m["status"] == "up")
          up.insert(m["name"].get<std::string>());
    } catch (const std::exception&) {
    }
    return up;
  };
  auto wait_until = [](auto pred, std::chrono::milliseconds bound) {
    auto deadline = steady_clock::now() + bound;
    while (steady_clock::now() < deadline) {
      if (pred())
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  const std::set<std::string> all{"n0", "n1", "n2"};
  BOOST_REQUIRE(wait_until(
      [&] {
        return members_up(n0.port()) == all && members_up(n1.port()) == all &&
               ns.get_status(n2.port(), "/ready") == 200u;
      },
      30s));
  const std::string prefix = "pt-";
  std::vector<std::string> n2_carts;
  for (int i = 0; i < load_carts; ++i)
    if (owner_of(n0.port(), load_cart(prefix, i)) == "n2")
      n2_carts.push_back(load_cart(prefix, i));
  BOOST_REQUIRE(!n2_carts.empty());
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port0{n0.port()};
  std::atomic<uint16_t> port1{n1.port()};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  auto wait_acked = [&](int n) {
    wait_until([&] { return acked.load() >= n; }, 30s);
  };
  {
    client_threads threads{stopping};
    for (int i = 0; i < load_clients; ++i)
      threads.start(drive_keyed_adds, std::cref(i % 2 == 0 ? port0 : port1),
                    prefix, i, std::cref(stopping), std::ref(acked),
                    std::ref(logs[i]));
    wait_acked(200);
    ns.link(false);
    // Cut off from its peers and the database, n2 stops serving within its
    // lease; the others remove it and carry on with its carts.
    BOOST_TEST(wait_until(
        [&] { return ns.get_status(n2.port(), "/ready") == 503u; }, 10s));
    BOOST_TEST(wait_until(
        [&] {
          return members_up(n0.port()) == std::set<std::string>{"n0", "n1"};
        },
        10s));
    auto at_cut = acked.load();
    wait_acked(at_cut + 200);
    BOOST_TEST(acked.load() >= at_cut + 200);
    BOOST_TEST(owner_of(n0.port(), n2_carts.front()) != "n2");
    ns.link(true);
    // Healed, n2 rejoins under a new incarnation and serves again.
    BOOST_TEST(wait_until(
        [&] {
          return members_up(n0.port()) == all &&
                 ns.get_status(n2.port(), "/ready") == 200u;
        },
        30s));
    wait_acked(acked.load() + 200);
  }
  check_no_failed_request(logs);
  check_every_logical_add_once(n0.port(), prefix, logs);
}
