// End-to-end tests of a cluster whose nodes talk mutual TLS
// (--cluster.tls.*): real cartd processes on a throwaway PostgreSQL server,
// certificates made by the openssl command line (test_pki), and peers that
// try to get in without the cluster's CA: a CAF node with a certificate of
// another CA, and a plain-TCP CAF node.
//
//   clients ──► n0 ─┐  BASP over   ┌──► PostgreSQL: journal + members
//   clients ──► n1 ─┼─ TLS mesh ───┤
//   clients ──► n2 ─┘      ▲       └── (schema per test)
//                          └── intruder (other CA / plain TCP): refused

#define BOOST_TEST_MODULE e2e_cluster_tls
#include "tests/e2e/e2e.hpp"
#include "tests/e2e/keyed_load.hpp"

#include <dirent.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>

#include "tests/e2e/cluster.hpp"
#include "tests/support/test_pki.hpp"

using namespace cartd::test;

namespace {

/// One PKI for the suite: the cluster's CA and a node certificate it
/// signed (every node presents it), another CA and a certificate of it.
struct pki_state {
  pki_state() {
    pki.make_ca("cluster");
    pki.make_ca("other");
    node = pki.issue("cluster", "cartd-node");
    stranger = pki.issue("other", "cartd-node");
  }
  test_pki pki;
  test_pki::issued node;
  test_pki::issued stranger;
};

pki_state& pki() {
  static pki_state instance;
  return instance;
}

std::vector<std::string> tls_args() {
  auto& p = pki();
  return {"--cluster.tls.certificate=" + p.node.certificate,
          "--cluster.tls.key=" + p.node.key,
          "--cluster.tls.ca=" + p.pki.ca("cluster")};
}

/// The node-to-node port node `i` published (from its GET /cluster).
uint16_t cluster_port(test_cluster& c, size_t i) {
  auto body = json::parse(http_call(c.port(i), "GET", "/cluster").body());
  for (auto& m : body["members"])
    if (m["name"] == c.name(i)) {
      auto address = m["cluster"].get<std::string>();
      return static_cast<uint16_t>(
          std::stoi(address.substr(address.rfind(':') + 1)));
    }
  return 0;
}

/// Connects to 127.0.0.1:port as a cluster node would (the cluster's
/// application identifier and heartbeats): over TLS presenting
/// `certificate` and `key` and trusting `ca`, or in plain TCP when they are
/// empty. "" when the BASP handshake completed (then it could send
/// messages), else why not.
std::string connect_as_peer(uint16_t port, const std::string& certificate,
                            const std::string& key, const std::string& ca) {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{"cartd-cluster-v1"});
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds{300}});
  bool tls = !certificate.empty();
  if (tls) {
    cfg.openssl_certificate = certificate;
    cfg.openssl_key = key;
    cfg.openssl_cafile = ca;
    cfg.load<caf::openssl::manager>();
  }
  caf::actor_system sys{cfg};
  auto mm = tls ? sys.openssl_manager().actor_handle()
                : sys.middleman().actor_handle();
  std::string result = "no answer";
  caf::scoped_actor self{sys};
  self->request(mm, std::chrono::seconds{10}, caf::connect_atom::value,
                std::string{"127.0.0.1"}, port)
      .receive(
          [&](const caf::node_id& node, caf::strong_actor_ptr&,
              const std::set<std::string>&) { result = node ? "" : "no node"; },
          [&](caf::error& err) { result = sys.render(err); });
  return result;
}

/// The TCP ports process `pid` listens on (its sockets in LISTEN state,
/// from /proc).
std::set<uint16_t> listening_ports(pid_t pid) {
  std::set<std::string> inodes;
  auto fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (auto* dir = opendir(fd_dir.c_str())) {
    while (auto* entry = readdir(dir)) {
      char target[256];
      auto path = fd_dir + "/" + entry->d_name;
      auto n = readlink(path.c_str(), target, sizeof(target) - 1);
      if (n <= 0)
        continue;
      std::string link{target, static_cast<size_t>(n)};
      if (link.rfind("socket:[", 0) == 0)
        inodes.insert(link.substr(8, link.size() - 9));
    }
    closedir(dir);
  }
  std::set<uint16_t> result;
  for (auto table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in{"/proc/" + std::to_string(pid) + table};
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
      std::istringstream fields{line};
      std::string slot, local, remote, state, queues, timer, retransmits, uid,
          timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >>
          retransmits >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode) > 0)
        result.insert(static_cast<uint16_t>(
            std::stoul(local.substr(local.rfind(':') + 1), nullptr, 16)));
    }
  }
  return result;
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_tls_cluster_serves_any_cart_through_any_node) {
  test_cluster c{"tls_spread", 3, tls_args()};
  for (size_t i = 0; i < c.size(); ++i)
    BOOST_TEST(contains(c.node(i).proc().stderr_text(),
                        "node-to-node traffic over TLS with mutual "
                        "authentication"),
               c.node(i).proc().stderr_text());
  std::set<std::string> owners;
  for (int i = 0; i < 24; ++i) {
    auto id = "t" + std::to_string(i);
    auto res = call(c.port(i % 3), "POST", items_path(id), add_body("x", 2));
    BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
    auto owner = answered_by(res);
    owners.insert(owner);
    for (size_t n = 0; n < c.size(); ++n) {
      auto got = call(c.port(n), "GET", cart_path(id));
      BOOST_TEST(got.result_int() == 200u);
      BOOST_TEST(answered_by(got) == owner);
      BOOST_TEST(quantity_of(body_json(got), "x") == 2);
    }
  }
  // Carts on every node: most requests above crossed a TLS link.
  BOOST_TEST(owners.size() == 3u);
}

BOOST_AUTO_TEST_CASE(kill_9_of_a_tls_node_under_keyed_load_loses_nothing) {
  test_cluster c{"tls_kill9", 3, tls_args()};
  const std::string prefix = "tk9-";
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port0{c.port(0)};
  std::atomic<uint16_t> port1{c.port(1)};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  std::string probe;
  for (int i = 0; probe.empty() && i < 1000; ++i)
    if (answered_by(http_call(c.port(0), "GET",
                              cart_path("tk9-probe-" + std::to_string(i)))) ==
        "n2")
      probe = "tk9-probe-" + std::to_string(i);
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
    wait_acked(200);
    auto killed_at = steady_clock::now();
    kill_hard(c.node(2));
    c.gone(2);
    auto at_kill = acked.load();
    bool served_again = false;
    while (!served_again && steady_clock::now() < killed_at + 20s) {
      served_again =
          http_call(c.port(0), "POST", items_path(probe), add_body("probe"))
              .result_int() == 200u;
      if (!served_again)
        std::this_thread::sleep_for(20ms);
    }
    BOOST_REQUIRE_MESSAGE(served_again,
                          "n2's cart was not written again within 20 s");
    BOOST_TEST(answered_by(http_call(c.port(0), "GET", cart_path(probe))) !=
               "n2");
    wait_acked(at_kill + 200);
  }
  for (size_t i = 0; i < logs.size(); ++i)
    BOOST_TEST(logs[i].retries == 0,
               "client " << i << ": " << logs[i].retries << " retries");
  BOOST_TEST(c.wait_formed(10s));
  check_every_logical_add_once(c.port(1), prefix, logs);
}

BOOST_AUTO_TEST_CASE(a_tls_node_listens_for_peers_on_its_tls_port_only) {
  // CAF's automatic connections would open a second, plain-TCP BASP port on
  // every interface: a way in without a certificate.
  test_cluster c{"tls_ports", 2, tls_args()};
  for (size_t i = 0; i < c.size(); ++i) {
    auto ports = listening_ports(c.node(i).proc().pid());
    std::set<uint16_t> expected{c.port(i), cluster_port(c, i)};
    std::ostringstream seen;
    for (auto p : ports)
      seen << p << ' ';
    BOOST_TEST((ports == expected), "node " << i << " listens on " << seen.str()
                                            << "(http " << c.port(i)
                                            << ", cluster "
                                            << cluster_port(c, i) << ")");
    // And no port but HTTP takes a plain-TCP peer.
    for (auto p : ports)
      if (p != c.port(i))
        BOOST_TEST(connect_as_peer(p, "", "", "") != "",
                   "node " << i << ": a plain-TCP peer got in on port " << p);
  }
}

BOOST_AUTO_TEST_CASE(
    a_peer_without_a_certificate_of_the_cluster_ca_is_refused) {
  test_cluster c{"tls_intruders", 2, tls_args()};
  auto& p = pki();
  auto port = cluster_port(c, 0);
  BOOST_REQUIRE(port != 0);
  // The control: a peer with the cluster's certificate gets in.
  BOOST_TEST(connect_as_peer(port, p.node.certificate, p.node.key,
                             p.pki.ca("cluster")) == "");
  // A certificate of another CA, trusting the cluster's CA (which is no
  // secret) or its own.
  for (auto ca : {"cluster", "other"}) {
    auto why = connect_as_peer(port, p.stranger.certificate, p.stranger.key,
                               p.pki.ca(ca));
    BOOST_TEST(!why.empty(), "trusting " << ca << ": connected");
    BOOST_TEST_MESSAGE("other CA's certificate, trusting " << ca << ": "
                                                           << why);
  }
  // Plain TCP.
  auto why = connect_as_peer(port, "", "", "");
  BOOST_TEST(!why.empty(), "plain TCP: connected");
  BOOST_TEST_MESSAGE("plain TCP: " << why);
  // The node is still up and part of its cluster.
  BOOST_TEST(c.node(0).proc().running());
  BOOST_TEST(c.wait_formed(10s));
  auto res = call(c.port(0), "POST", items_path("after"), add_body("x"));
  BOOST_TEST(res.result_int() == 200u);
}

BOOST_AUTO_TEST_CASE(a_node_of_another_transport_is_refused_at_start) {
  // It could register itself in the members table (it has the database's
  // credentials) and own carts no one reaches: the table records each
  // member's transport, and a node refuses to start against live members of
  // another one.
  test_cluster c{"tls_join", 2, tls_args()};
  auto& p = pki();
  auto base = c.args("intruder");
  std::vector<std::string> plain;
  std::vector<std::string> other_ca;
  for (auto& arg : base)
    if (arg.rfind("--cluster.tls.", 0) != 0) {
      plain.push_back(arg);
      other_ca.push_back(arg);
    }
  other_ca.push_back("--cluster.tls.certificate=" + p.stranger.certificate);
  other_ca.push_back("--cluster.tls.key=" + p.stranger.key);
  other_ca.push_back("--cluster.tls.ca=" + p.pki.ca("other"));
  for (auto& [what, args] : {std::pair{"plain TCP", plain},
                             std::pair{"TLS with the CA sha256:", other_ca}}) {
    auto res = cartd_process::run(cartd_binary(), args, 30s);
    BOOST_REQUIRE(res.status);
    BOOST_TEST_CONTEXT(what << ": stderr: " << res.err) {
      BOOST_TEST(res.status->code == 1);
      BOOST_TEST(contains(res.err, "cannot join this cluster: member n0 of "
                                   "this cluster talks to the other nodes in "
                                   "TLS with the CA sha256:"));
      BOOST_TEST(contains(res.err, std::string{"this node in "} + what));
    }
  }
  BOOST_TEST(c.formed());
}

BOOST_AUTO_TEST_CASE(bad_tls_files_are_refused_before_the_node_starts) {
  auto& p = pki();
  auto missing = p.pki.dir() + "/missing.pem";
  auto res = cartd_process::run(
      cartd_binary(),
      {"--storage.backend=postgres",
       "--storage.postgres=" + cluster_db().conninfo(),
       "--storage.postgres-schema=tls_bad", "--cluster.enabled",
       "--cluster.node=bad", "--cluster.tls.certificate=" + missing,
       "--cluster.tls.key=" + p.node.key,
       "--cluster.tls.ca=" + p.pki.ca("cluster")},
      30s);
  BOOST_REQUIRE(res.status);
  BOOST_TEST_CONTEXT("stderr: " << res.err) {
    BOOST_TEST(res.status->code == 2);
    BOOST_TEST(
        contains(res.err, "cluster.tls.certificate: cannot read " + missing));
  }
}

BOOST_AUTO_TEST_CASE(a_plain_cluster_says_so_in_its_log) {
  test_cluster c{"plain_log", 1};
  BOOST_TEST(contains(c.node(0).proc().stderr_text(),
                      "node-to-node traffic in plain TCP"),
             c.node(0).proc().stderr_text());
}

BOOST_AUTO_TEST_CASE(cafs_openssl_options_are_refused_at_start) {
  // Before: accepted, and the node ran in plain text (HTTP and BASP).
  auto res = cartd_process::run(
      cartd_binary(), {"--openssl.certificate=/etc/x.pem", "--openssl.key=/k"},
      30s);
  BOOST_REQUIRE(res.status);
  BOOST_TEST_CONTEXT("stderr: " << res.err) {
    BOOST_TEST(res.status->code == 2);
    BOOST_TEST(contains(res.err, "openssl.certificate is not a cartd option"));
    BOOST_TEST(contains(res.err, "--cluster.tls.certificate"));
  }
}
