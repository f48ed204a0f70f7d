// End-to-end durability tests: real cartd child processes over a real SQLite
// journal that outlives them (a `temp_dir` per test), killed with SIGKILL or
// stopped with SIGTERM and started again on the same storage path.
//
//   test ──► node A ──► <data>/cartd.db ◄── node B (after A is killed)
//
// Client threads never call Boost.Test macros (they are not thread-safe);
// they record what they saw and the main thread checks it after joining.

#define BOOST_TEST_MODULE e2e_durability
#include "tests/e2e/e2e.hpp"
#include "tests/e2e/keyed_load.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/sqlite_file.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cartd::test;

namespace {

/// Options of a node journaling to `data`, with fsync per commit unless
/// `extra` sets `--storage.sync`.
std::vector<std::string> sqlite_args(const temp_dir& data,
                                     std::vector<std::string> extra = {}) {
  return sqlite_node_args(data, std::move(extra), "full");
}

// -- concurrent adds, logged --------------------------------------------------

/// What one client adding one "i" at a time to random carts saw.
struct load_log {
  /// (cart, version) of every 2xx.
  std::vector<std::pair<int, uint64_t>> acked;
  /// Carts of requests sent without a response: in flight when the node
  /// stopped (their outcome is unknown).
  std::vector<int> unknown;
  /// Non-2xx responses, e.g. "c7: 503 {...}", and whether the node had been
  /// told to stop when they came.
  std::vector<std::pair<std::string, bool>> rejected;
  /// Failed exchanges before the node was told to stop.
  std::vector<std::string> broken;
};

/// Adds one "i" to random carts over one keep-alive connection until
/// `stopping` is set or the node goes away.
void drive_adds(uint16_t port, const std::string& prefix, unsigned seed,
                const std::atomic<bool>& stopping, std::atomic<int>& acked,
                load_log& log) {
  std::minstd_rand rng{seed};
  std::uniform_int_distribution<int> pick{0, load_carts - 1};
  auto body = add_body("i");
  std::optional<http_connection> conn;
  while (!stopping.load()) {
    auto cart = pick(rng);
    if (!conn) {
      conn = http_connection::try_connect(port);
      if (!conn)
        break; // The node is gone; nothing was sent.
    }
    // From here on the request is in flight until a response arrives.
    std::optional<http_response> res;
    std::string failure;
    try {
      auto text = request_text(
          "POST", "/carts/" + load_cart(prefix, cart) + "/items", body);
      if (conn->send(text))
        res = conn->read_response();
      if (!res)
        failure = "connection closed";
    } catch (const std::exception& ex) {
      failure = ex.what();
    }
    if (!res) {
      log.unknown.push_back(cart);
      if (!stopping.load())
        log.broken.push_back(failure);
      conn.reset();
      continue;
    }
    if (res->result_int() / 100 == 2) {
      auto parsed = json::parse(res->body(), nullptr, false);
      log.acked.emplace_back(cart, parsed.is_object()
                                       ? parsed.value("version", uint64_t{0})
                                       : uint64_t{0});
      acked.fetch_add(1);
    } else {
      log.rejected.emplace_back("c" + std::to_string(cart) + ": " +
                                    std::to_string(res->result_int()) + " " +
                                    res->body(),
                                stopping.load());
    }
    if (!res->keep_alive())
      conn.reset();
  }
}

/// Runs `load_clients` clients against `node` until at least `min_acked`
/// adds were acknowledged and `min_time` passed, then calls `stop_node`
/// (which must make the node go away) and joins the clients.
template <class StopNode>
std::vector<load_log>
run_load_and_stop(test_node& node, const std::string& prefix, int min_acked,
                  std::chrono::milliseconds min_time, StopNode stop_node) {
  std::vector<load_log> logs(load_clients);
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  client_threads threads{stopping};
  auto start = steady_clock::now();
  for (int i = 0; i < load_clients; ++i)
    threads.start(drive_adds, node.port(), prefix, 17u + i, std::cref(stopping),
                  std::ref(acked), std::ref(logs[i]));
  auto deadline = start + 30s;
  while ((acked.load() < min_acked || steady_clock::now() - start < min_time) &&
         steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  stopping = true;
  stop_node();
  threads.join();
  BOOST_TEST_MESSAGE(prefix << ": " << acked.load() << " adds acknowledged");
  BOOST_TEST(acked.load() >= min_acked);
  return logs;
}

/// Checks the carts of a load on `port` (a node started again on the same
/// storage): every acknowledged add is there, nothing beyond the requests in
/// flight, version == quantity, acknowledged versions distinct and not above
/// the recovered one.
void check_recovered_load(uint16_t port, const std::string& prefix,
                          const std::vector<load_log>& logs) {
  std::vector<int64_t> acked(load_carts, 0);
  std::vector<int64_t> in_flight(load_carts, 0);
  std::vector<std::vector<uint64_t>> versions(load_carts);
  for (auto& log : logs) {
    for (auto [cart, version] : log.acked) {
      ++acked[cart];
      versions[cart].push_back(version);
    }
    for (auto cart : log.unknown)
      ++in_flight[cart];
  }
  int64_t total_in_flight = 0;
  int64_t total_beyond = 0;
  for (int cart = 0; cart < load_carts; ++cart) {
    auto id = load_cart(prefix, cart);
    auto res = call(port, "GET", "/carts/" + id);
    auto body = body_json(res);
    total_in_flight += in_flight[cart];
    if (body.is_object())
      total_beyond +=
          std::max<int64_t>(0, quantity_of(body, "i") - acked[cart]);
    BOOST_TEST_CONTEXT("cart " << id << ": acknowledged " << acked[cart]
                               << ", in flight " << in_flight[cart]
                               << ", recovered " << res.body()) {
      BOOST_TEST(res.result_int() == 200u);
      if (res.result_int() != 200u || !body.is_object())
        continue;
      auto quantity = quantity_of(body, "i");
      auto version = body.value("version", uint64_t{0});
      BOOST_TEST(body["items"].size() <= 1u, "unexpected lines");
      BOOST_TEST(quantity >= acked[cart], "acknowledged adds are missing");
      BOOST_TEST(quantity <= acked[cart] + in_flight[cart],
                 "more adds than were acknowledged or in flight");
      BOOST_TEST(version == static_cast<uint64_t>(quantity),
                 "version is not the number of adds");
      auto& vs = versions[cart];
      std::sort(vs.begin(), vs.end());
      BOOST_TEST((std::adjacent_find(vs.begin(), vs.end()) == vs.end()),
                 "two acknowledgements carry the same version");
      BOOST_TEST((vs.empty() || vs.front() >= 1u), "version 0 acknowledged");
      BOOST_TEST((vs.empty() || vs.back() <= version),
                 "an acknowledged version " << (vs.empty() ? 0 : vs.back())
                                            << " is above the recovered one");
    }
  }
  BOOST_TEST_MESSAGE(prefix << ": " << total_in_flight
                            << " adds in flight at the stop, " << total_beyond
                            << " of them present");
}

/// Reports what clients saw before the node was told to stop: nothing but
/// 2xx is expected there.
void check_clean_before_stop(const std::vector<load_log>& logs) {
  for (size_t i = 0; i < logs.size(); ++i) {
    BOOST_TEST_CONTEXT("client #" << i) {
      auto& log = logs[i];
      auto early = std::find_if(log.rejected.begin(), log.rejected.end(),
                                [](auto& x) { return !x.second; });
      BOOST_TEST((early == log.rejected.end()),
                 "non-2xx before stop: "
                     << (early == log.rejected.end() ? "" : early->first));
      BOOST_TEST(log.broken.empty(),
                 log.broken.size()
                     << " broken before stop, first: "
                     << (log.broken.empty() ? "" : log.broken.front()));
    }
  }
}

} // namespace

// -- crash recovery
// ------------------------------------------------------------

namespace {

/// Drives adds on a node with `extra` options, kills it with SIGKILL mid-load
/// and checks the carts on a node started again on the same storage.
void check_sigkill_recovery(const std::string& prefix,
                            const std::vector<std::string>& extra) {
  temp_dir data;
  test_node first{sqlite_args(data, extra)};
  auto logs = run_load_and_stop(first, prefix, 300, 1500ms,
                                [&] { first.proc().kill(SIGKILL); });
  auto status = first.proc().wait_exit(20s);
  BOOST_REQUIRE(status);
  BOOST_TEST(status->signal == SIGKILL);
  check_clean_before_stop(logs);
  test_node second{sqlite_args(data, extra)};
  check_recovered_load(second.port(), prefix, logs);
}

} // namespace

BOOST_AUTO_TEST_CASE(sigkill_under_load_loses_no_acknowledged_add) {
  check_sigkill_recovery("kill-", {});
}

BOOST_AUTO_TEST_CASE(sigkill_amid_constant_passivation_loses_no_add) {
  // Carts passivate and activate all the time, from snapshots every 7
  // events plus the events after them.
  check_sigkill_recovery("churn-",
                         {"--carts.max-resident=5", "--carts.idle-timeout=50ms",
                          "--storage.snapshot-every=7"});
}

BOOST_AUTO_TEST_CASE(sigkill_under_load_with_a_commit_per_write_loses_no_add) {
  check_sigkill_recovery("batch1-", {"--storage.max-batch=1"});
}

BOOST_AUTO_TEST_CASE(sigkill_under_load_with_sync_normal_loses_no_add) {
  // `normal` may lose commits on a power loss, never on a crash of cartd.
  check_sigkill_recovery("normal-", {"--storage.sync=normal"});
}

BOOST_AUTO_TEST_CASE(two_nodes_on_one_journal_never_both_append_to_a_cart) {
  // Two writers for one cart, each with its own idea of the cart's version.
  // A node refuses a journal another one holds (directory lock); shared
  // storage lets the journal's own rule be tested behind that lock.
  temp_dir data;
  check_two_nodes_on_one_cart(
      [&] {
        auto args = sqlite_args(data);
        args.emplace_back("--debug.shared-storage=true");
        return args;
      },
      1500ms);
}

BOOST_AUTO_TEST_CASE(keyed_retries_across_sigkill_apply_every_add_once) {
  temp_dir data;
  check_keyed_retries_across_sigkill("retry-",
                                     [&] { return sqlite_args(data); });
}

// -- idempotency over HTTP ----------------------------------------------------

BOOST_AUTO_TEST_CASE(retry_with_the_same_key_gets_the_original_response) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  header_list key{{"Idempotency-Key", "order-17"}};
  auto original =
      call(port, "POST", "/carts/idem-a/items", add_body("fig", 2), key);
  check_cart(original, "idem-a", items({{"fig", 2}}), 1);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("retry #" << i) {
      auto retry =
          call(port, "POST", "/carts/idem-a/items", add_body("fig", 2), key);
      BOOST_TEST(retry.result_int() == 200u);
      BOOST_TEST(retry.body() == original.body());
      BOOST_TEST(retry[boost::beast::http::field::etag] ==
                 original[boost::beast::http::field::etag]);
    }
  }
  check_cart(call(port, "GET", "/carts/idem-a"), "idem-a", items({{"fig", 2}}),
             1);
  // Another key is another change.
  check_cart(call(port, "POST", "/carts/idem-a/items", add_body("fig", 2),
                  {{"Idempotency-Key", "order-18"}}),
             "idem-a", items({{"fig", 4}}), 2);
  // After a later change, the retry still gets the response of its time.
  auto late =
      call(port, "POST", "/carts/idem-a/items", add_body("fig", 2), key);
  BOOST_TEST(late.body() == original.body());
  check_cart(call(port, "GET", "/carts/idem-a"), "idem-a", items({{"fig", 4}}),
             2);
}

BOOST_AUTO_TEST_CASE(same_key_with_a_different_request_is_422) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  header_list key{{"Idempotency-Key", "k-reused"}};
  check_cart(call(port, "POST", "/carts/idem-r/items", add_body("fig"), key),
             "idem-r", items({{"fig", 1}}), 1);
  BOOST_TEST_CONTEXT("another item") {
    check_error(
        call(port, "POST", "/carts/idem-r/items", add_body("kiwi"), key), 422,
        "idempotency_key_reused");
  }
  BOOST_TEST_CONTEXT("another quantity") {
    check_error(
        call(port, "POST", "/carts/idem-r/items", add_body("fig", 2), key), 422,
        "idempotency_key_reused");
  }
  BOOST_TEST_CONTEXT("another route") {
    check_error(
        call(port, "PUT", "/carts/idem-r/items/fig", R"({"quantity":5})", key),
        422, "idempotency_key_reused");
    check_error(call(port, "DELETE", "/carts/idem-r", {}, key), 422,
                "idempotency_key_reused");
  }
  check_cart(call(port, "GET", "/carts/idem-r"), "idem-r", items({{"fig", 1}}),
             1);
}

BOOST_AUTO_TEST_CASE(invalid_idempotency_keys_are_400_and_change_nothing) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  check_cart(call(port, "POST", "/carts/idem-bad/items", add_body("fig")),
             "idem-bad", items({{"fig", 1}}), 1);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"empty", ""},
      {"129 characters", std::string(129, 'k')},
      {"inner space", "a b"},
      {"inner tab", "a\tb"},
      {"non-ASCII", "k\xC3\xA9y"},
  };
  for (auto& [what, value] : bad) {
    BOOST_TEST_CONTEXT(what) {
      check_error(call(port, "POST", "/carts/idem-bad/items", add_body("fig"),
                       {{"Idempotency-Key", value}}),
                  400, "invalid_idempotency_key");
    }
  }
  check_cart(call(port, "GET", "/carts/idem-bad"), "idem-bad",
             items({{"fig", 1}}), 1);
  // The longest valid key, every visible character once.
  std::string visible;
  for (char c = '!'; c <= '~'; ++c)
    visible += c;
  auto longest = visible + std::string(128 - visible.size(), 'x');
  check_cart(call(port, "POST", "/carts/idem-bad/items", add_body("fig"),
                  {{"Idempotency-Key", longest}}),
             "idem-bad", items({{"fig", 2}}), 2);
  check_cart(call(port, "POST", "/carts/idem-bad/items", add_body("fig"),
                  {{"Idempotency-Key", longest}}),
             "idem-bad", items({{"fig", 2}}), 2);
}

BOOST_AUTO_TEST_CASE(keys_are_remembered_per_cart) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  header_list key{{"Idempotency-Key", "shared-key"}};
  check_cart(call(port, "POST", "/carts/idem-x/items", add_body("fig"), key),
             "idem-x", items({{"fig", 1}}), 1);
  check_cart(call(port, "POST", "/carts/idem-y/items", add_body("fig"), key),
             "idem-y", items({{"fig", 1}}), 1);
  check_cart(call(port, "POST", "/carts/idem-y/items", add_body("fig"), key),
             "idem-y", items({{"fig", 1}}), 1);
}

BOOST_AUTO_TEST_CASE(retried_checkout_and_removal_get_their_first_response) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  call(port, "POST", "/carts/idem-co/items", add_body("fig", 2));
  call(port, "POST", "/carts/idem-co/items", add_body("kiwi", 1));
  header_list del_key{{"Idempotency-Key", "del-1"}};
  auto removed = call(port, "DELETE", "/carts/idem-co/items/kiwi", {}, del_key);
  check_cart(removed, "idem-co", items({{"fig", 2}}), 3);
  auto removed_again =
      call(port, "DELETE", "/carts/idem-co/items/kiwi", {}, del_key);
  BOOST_TEST(removed_again.result_int() == 200u);
  BOOST_TEST(removed_again.body() == removed.body());
  header_list co_key{{"Idempotency-Key", "co-1"}};
  auto checked_out = call(port, "POST", "/carts/idem-co/checkout", {}, co_key);
  check_cart(checked_out, "idem-co", items({{"fig", 2}}), 4, true);
  auto checked_out_again =
      call(port, "POST", "/carts/idem-co/checkout", {}, co_key);
  BOOST_TEST(checked_out_again.result_int() == 200u);
  BOOST_TEST(checked_out_again.body() == checked_out.body());
  // Without the key, the same request is a new one and is refused.
  check_error(call(port, "POST", "/carts/idem-co/checkout"), 409,
              "checked_out");
}

BOOST_AUTO_TEST_CASE(idempotency_keys_survive_sigterm_and_sigkill) {
  temp_dir data;
  header_list key{{"Idempotency-Key", "order-restart"}};
  header_list key2{{"Idempotency-Key", "order-restart-2"}};
  http_response original;
  http_response original2;
  {
    test_node node{sqlite_args(data)};
    original = call(node.port(), "POST", "/carts/idem-s/items",
                    add_body("fig", 3), key);
    check_cart(original, "idem-s", items({{"fig", 3}}), 1);
    stop_gracefully(node);
  }
  {
    test_node node{sqlite_args(data)};
    auto port = node.port();
    auto retry =
        call(port, "POST", "/carts/idem-s/items", add_body("fig", 3), key);
    BOOST_TEST(retry.result_int() == 200u);
    BOOST_TEST(retry.body() == original.body());
    BOOST_TEST(retry[boost::beast::http::field::etag] == "\"1\"");
    check_error(
        call(port, "POST", "/carts/idem-s/items", add_body("kiwi"), key), 422,
        "idempotency_key_reused");
    check_cart(call(port, "GET", "/carts/idem-s"), "idem-s",
               items({{"fig", 3}}), 1);
    original2 =
        call(port, "POST", "/carts/idem-s/items", add_body("pear"), key2);
    check_cart(original2, "idem-s", items({{"fig", 3}, {"pear", 1}}), 2);
    kill_hard(node);
  }
  test_node node{sqlite_args(data)};
  auto port = node.port();
  struct retry_case {
    const header_list& key;
    std::string body;
    const http_response& original;
  };
  for (auto& x : {retry_case{key, add_body("fig", 3), original},
                  retry_case{key2, add_body("pear"), original2}}) {
    BOOST_TEST_CONTEXT("key " << x.key.front().second) {
      auto retry = call(port, "POST", "/carts/idem-s/items", x.body, x.key);
      BOOST_TEST(retry.result_int() == 200u);
      BOOST_TEST(retry.body() == x.original.body());
    }
  }
  check_cart(call(port, "GET", "/carts/idem-s"), "idem-s",
             items({{"fig", 3}, {"pear", 1}}), 2);
}

BOOST_AUTO_TEST_CASE(concurrent_requests_with_one_key_change_the_cart_once) {
  temp_dir data;
  test_node node{sqlite_args(data)};
  auto port = node.port();
  constexpr int rounds = 10;
  constexpr int clients = 12;
  for (int round = 0; round < rounds; ++round) {
    auto key = "same-" + std::to_string(round);
    std::vector<std::string> seen(clients);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
      threads.emplace_back([&, i] {
        try {
          http_connection conn{port};
          auto text = request_text("POST", "/carts/idem-c/items",
                                   add_body("fig"), {{"Idempotency-Key", key}});
          ready.fetch_add(1);
          while (!go.load())
            std::this_thread::yield();
          conn.send(text);
          auto res = conn.read_response();
          seen[i] = res ? std::to_string(res->result_int()) + " " + res->body()
                        : "closed";
        } catch (const std::exception& ex) {
          seen[i] = ex.what();
        }
      });
    while (ready.load() < clients)
      std::this_thread::sleep_for(1ms);
    go = true;
    for (auto& t : threads)
      t.join();
    BOOST_TEST_CONTEXT("round " << round << " (key " << key << ")") {
      auto expected = json{{"id", "idem-c"},
                           {"items", items({{"fig", round + 1}})},
                           {"total_quantity", round + 1},
                           {"checked_out", false},
                           {"version", round + 1}};
      for (int i = 0; i < clients; ++i) {
        auto space = seen[i].find(' ');
        auto status = seen[i].substr(0, space);
        auto body =
            space == std::string::npos
                ? json{}
                : json::parse(seen[i].substr(space + 1), nullptr, false);
        BOOST_TEST((status == "200" && body == expected),
                   "client #" << i << " got " << seen[i]);
      }
      check_cart(call(port, "GET", "/carts/idem-c"), "idem-c",
                 items({{"fig", round + 1}}), static_cast<uint64_t>(round + 1));
    }
  }
}

BOOST_AUTO_TEST_CASE(keys_survive_passivation_snapshots_and_sigkill) {
  temp_dir data;
  auto args = sqlite_args(
      data, {"--carts.idle-timeout=200ms", "--storage.snapshot-every=2"});
  header_list key1{{"Idempotency-Key", "snap-1"}};
  header_list key2{{"Idempotency-Key", "snap-2"}};
  http_response first;
  http_response second;
  auto check_retries = [&](uint16_t port) {
    auto retry1 =
        call(port, "POST", "/carts/idem-p/items", add_body("fig"), key1);
    BOOST_TEST(retry1.result_int() == 200u);
    BOOST_TEST(retry1.body() == first.body());
    auto retry2 =
        call(port, "POST", "/carts/idem-p/items", add_body("kiwi"), key2);
    BOOST_TEST(retry2.result_int() == 200u);
    BOOST_TEST(retry2.body() == second.body());
    check_cart(call(port, "GET", "/carts/idem-p"), "idem-p",
               items({{"fig", 1}, {"kiwi", 1}, {"plum", 1}}), 3);
  };
  {
    test_node node{args};
    auto port = node.port();
    first = call(port, "POST", "/carts/idem-p/items", add_body("fig"), key1);
    check_cart(first, "idem-p", items({{"fig", 1}}), 1);
    // A snapshot covers both keyed events.
    second = call(port, "POST", "/carts/idem-p/items", add_body("kiwi"), key2);
    check_cart(second, "idem-p", items({{"fig", 1}, {"kiwi", 1}}), 2);
    call(port, "POST", "/carts/idem-p/items", add_body("plum"));
    std::this_thread::sleep_for(800ms);
    BOOST_TEST_CONTEXT("after passivation") {
      check_retries(port);
    }
    kill_hard(node);
  }
  test_node node{args};
  BOOST_TEST_CONTEXT("after SIGKILL") {
    check_retries(node.port());
  }
}

BOOST_AUTO_TEST_CASE(keys_are_forgotten_after_the_retention) {
  temp_dir data;
  test_node node{sqlite_args(data, {"--storage.idempotency-retention=1s"})};
  auto port = node.port();
  header_list key{{"Idempotency-Key", "short-lived"}};
  auto original =
      call(port, "POST", "/carts/idem-t/items", add_body("fig"), key);
  check_cart(original, "idem-t", items({{"fig", 1}}), 1);
  auto retry = call(port, "POST", "/carts/idem-t/items", add_body("fig"), key);
  BOOST_TEST(retry.body() == original.body());
  std::this_thread::sleep_for(2500ms);
  check_cart(call(port, "POST", "/carts/idem-t/items", add_body("fig"), key),
             "idem-t", items({{"fig", 2}}), 2);
}

BOOST_AUTO_TEST_CASE(cart_crashes_during_writes_apply_no_refused_change) {
  temp_dir data;
  auto args = sqlite_args(data, {"--debug.fault-injection=true",
                                 "--supervisor.max-restarts=1000000",
                                 "--supervisor.restart-period=1s"});
  constexpr int carts = 6;
  constexpr int clients = 8;
  auto id = [](int c) { return "crash-" + std::to_string(c); };
  // Every add names an item of its own, so each response can be matched
  // with what the cart holds afterwards: (cart, item) -> "200" or error.
  std::vector<std::map<std::pair<int, std::string>, std::string>> outcomes(
      clients);
  std::vector<std::string> broken(clients);
  test_node node{args};
  auto port = node.port();
  std::atomic<bool> stopping{false};
  {
    client_threads threads{stopping};
    for (int i = 0; i < clients; ++i)
      threads.start([&, i] {
        std::minstd_rand rng{static_cast<unsigned>(7 + i)};
        try {
          http_connection conn{port};
          for (int n = 0; !stopping.load(); ++n) {
            auto cart = static_cast<int>(rng() % carts);
            auto item = "c" + std::to_string(i) + "-" + std::to_string(n);
            auto res = conn.exchange("POST", "/carts/" + id(cart) + "/items",
                                     add_body(item));
            auto body = json::parse(res.body(), nullptr, false);
            outcomes[i][{cart, item}] =
                res.result_int() == 200u
                    ? std::string{"200"}
                    : std::to_string(res.result_int()) + " " +
                          (body.is_object() ? body.value("error", "?") : "?");
          }
        } catch (const std::exception& ex) {
          broken[i] = ex.what();
        }
      });
    threads.start([&] {
      try {
        http_connection conn{port};
        for (int n = 0; !stopping.load(); ++n) {
          conn.exchange("POST", "/debug/carts/" + id(n % carts) + "/crash");
          std::this_thread::sleep_for(3ms);
        }
      } catch (const std::exception& ex) {
        broken[0] += std::string{" crasher: "} + ex.what();
      }
    });
    std::this_thread::sleep_for(1500ms);
  }
  for (int i = 0; i < clients; ++i)
    BOOST_TEST(broken[i].empty(), "client #" << i << ": " << broken[i]);
  auto check = [&](uint16_t port) {
    std::set<std::pair<int, std::string>> present;
    for (int c = 0; c < carts; ++c) {
      auto res = call(port, "GET", "/carts/" + id(c));
      auto body = body_json(res);
      BOOST_TEST_CONTEXT("cart " << id(c)) {
        BOOST_TEST(res.result_int() == 200u);
        if (!body.is_object())
          continue;
        for (auto& line : body["items"])
          present.emplace(c, line.value("item", ""));
        BOOST_TEST(body.value("version", uint64_t{0}) == body["items"].size(),
                   "version is not the number of adds: " << res.body());
      }
    }
    // Outcome -> (requests, of which present).
    std::map<std::string, std::pair<int, int>> seen;
    for (auto& log : outcomes)
      for (auto& [key, outcome] : log) {
        auto& counts = seen[outcome];
        ++counts.first;
        counts.second += present.count(key) > 0 ? 1 : 0;
      }
    for (auto& [outcome, counts] : seen) {
      BOOST_TEST_CONTEXT("answered " << outcome << ": " << counts.first
                                     << " adds, " << counts.second
                                     << " of them in the cart") {
        if (outcome == "200")
          BOOST_TEST(counts.second == counts.first,
                     "acknowledged adds are missing");
        else
          BOOST_TEST(counts.second == 0, "refused adds were applied");
      }
    }
  };
  BOOST_TEST_CONTEXT("live") {
    check(port);
  }
  stop_gracefully(node);
  test_node again{args};
  BOOST_TEST_CONTEXT("after a restart") {
    check(again.port());
  }
}

// -- passivation
// ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(passivated_carts_come_back_intact) {
  temp_dir data;
  // Snapshots every 3 events: activation reads a snapshot plus later events.
  test_node node{sqlite_args(
      data, {"--carts.idle-timeout=200ms", "--storage.snapshot-every=3"})};
  auto port = node.port();
  constexpr int carts = 10;
  auto id = [](int c) { return "pas-" + std::to_string(c); };
  for (int round = 1; round <= 2; ++round) {
    {
      http_connection conn{port};
      for (int step = 0; step < 4; ++step)
        for (int c = 0; c < carts; ++c) {
          auto res = conn.exchange("POST", "/carts/" + id(c) + "/items",
                                   add_body("x" + std::to_string(step), c + 1));
          BOOST_TEST(res.result_int() == 200u, res.body());
        }
    }
    // Well past the idle timeout: every cart passivates.
    std::this_thread::sleep_for(800ms);
    for (int c = 0; c < carts; ++c) {
      BOOST_TEST_CONTEXT("round " << round) {
        int64_t q = (c + 1) * round;
        check_cart(call(port, "GET", "/carts/" + id(c)), id(c),
                   items({{"x0", q}, {"x1", q}, {"x2", q}, {"x3", q}}),
                   static_cast<uint64_t>(4 * round));
      }
    }
    std::this_thread::sleep_for(400ms);
  }
}

BOOST_AUTO_TEST_CASE(resident_cap_of_5_serves_50_carts_intact) {
  temp_dir data;
  test_node node{sqlite_args(data, {"--carts.max-resident=5"})};
  auto port = node.port();
  constexpr int carts = 50;
  auto id = [](int c) { return "res-" + std::to_string(c); };
  http_connection conn{port};
  for (int round = 0; round < 3; ++round)
    for (int c = 0; c < carts; ++c) {
      auto res = conn.exchange("POST", "/carts/" + id(c) + "/items",
                               add_body("r" + std::to_string(round), c + 1));
      BOOST_TEST_CONTEXT("round " << round << ", cart " << id(c)) {
        BOOST_TEST(res.result_int() == 200u, res.body());
        BOOST_TEST(body_json(res).value("version", 0) == round + 1);
      }
    }
  for (int c = 0; c < carts; ++c)
    check_cart(call(port, "GET", "/carts/" + id(c)), id(c),
               items({{"r0", c + 1}, {"r1", c + 1}, {"r2", c + 1}}), 3);
}

BOOST_AUTO_TEST_CASE(resident_cap_under_concurrent_load_never_refuses_a_cart) {
  // One resident cart per shard: nearly every request activates its cart
  // and passivates another, which must stay invisible to clients.
  temp_dir data;
  const std::string prefix = "cap-";
  test_node node{sqlite_args(data, {"--carts.max-resident=4"})};
  auto logs = run_load_and_stop(node, prefix, 300, 1500ms, [] {});
  check_clean_before_stop(logs);
  check_recovered_load(node.port(), prefix, logs);
}

// -- restart persistence
// ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(carts_survive_sigterm_and_kill_9) {
  temp_dir data;
  auto args = sqlite_args(data, {"--storage.snapshot-every=4"});
  std::map<std::string, std::string> expected;
  auto record = [&](uint16_t port) {
    for (auto& [cart, body] : expected) {
      auto res = call(port, "GET", "/carts/" + cart);
      BOOST_TEST(res.result_int() == 200u);
      body = res.body();
    }
  };
  auto check_same = [&](uint16_t port) {
    for (auto& [cart, body] : expected) {
      auto res = call(port, "GET", "/carts/" + cart);
      BOOST_TEST_CONTEXT("cart " << cart) {
        BOOST_TEST(res.result_int() == 200u);
        BOOST_TEST(res.body() == body);
      }
    }
  };
  {
    test_node node{args};
    auto port = node.port();
    // Every kind of event.
    call(port, "POST", "/carts/keep-1/items", add_body("apple", 2));
    call(port, "POST", "/carts/keep-1/items", add_body("pear", 3));
    call(port, "PUT", "/carts/keep-1/items/pear", R"({"quantity":5})");
    call(port, "POST", "/carts/keep-1/items", add_body("fig"));
    call(port, "DELETE", "/carts/keep-1/items/fig");
    check_cart(call(port, "POST", "/carts/keep-1/checkout"), "keep-1",
               items({{"apple", 2}, {"pear", 5}}), 6, true);
    call(port, "POST", "/carts/keep-2/items", add_body("tea", 3));
    check_cart(call(port, "DELETE", "/carts/keep-2"), "keep-2", items({}), 2);
    // Past several snapshots.
    for (int i = 1; i <= 10; ++i)
      call(port, "POST", "/carts/keep-3/items", add_body("rice"));
    check_cart(call(port, "GET", "/carts/keep-3"), "keep-3",
               items({{"rice", 10}}), 10);
    call(port, "POST", "/carts/keep-4/items",
         add_body("caf\xC3\xA9 / 100%", 7));
    expected = {{"keep-1", ""},
                {"keep-2", ""},
                {"keep-3", ""},
                {"keep-4", ""},
                {"keep-never", ""}};
    record(port);
    stop_gracefully(node);
  }
  {
    test_node node{args};
    auto port = node.port();
    check_same(port);
    check_error(call(port, "POST", "/carts/keep-1/items", add_body("plum")),
                409, "checked_out");
    check_cart(call(port, "POST", "/carts/keep-3/items", add_body("rice")),
               "keep-3", items({{"rice", 11}}), 11);
    check_cart(call(port, "POST", "/carts/keep-2/items", add_body("milk")),
               "keep-2", items({{"milk", 1}}), 3);
    record(port);
    kill_hard(node);
  }
  test_node node{args};
  check_same(node.port());
  check_cart(call(node.port(), "POST", "/carts/keep-3/items", add_body("rice")),
             "keep-3", items({{"rice", 12}}), 12);
}

// -- storage faults
// -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(storage_path_under_a_regular_file_stops_the_start) {
  temp_dir dir;
  auto file = dir.path() + "/plain-file";
  std::ofstream{file} << "not a directory\n";
  for (auto path : {file + "/data", file}) {
    BOOST_TEST_CONTEXT("--storage.path=" << path) {
      auto res = cartd_process::run(
          cartd_binary(),
          {"--storage.backend=sqlite", "--storage.path=" + path}, 20s);
      BOOST_REQUIRE_MESSAGE(res.status, "cartd still runs after 20 s");
      BOOST_TEST(res.status->signal == 0);
      BOOST_TEST(res.status->code == 1);
      BOOST_TEST(res.err.find(path) != std::string::npos,
                 "stderr does not name the path: " << res.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(database_that_is_no_cartd_journal_stops_the_start) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"tables but no version", "CREATE TABLE orders (id INTEGER);"},
      {"a newer version", "PRAGMA user_version = 99;"},
  };
  for (auto& [what, sql] : cases) {
    BOOST_TEST_CONTEXT(what) {
      temp_dir data;
      auto db = data.path() + "/cartd.db";
      BOOST_REQUIRE_EQUAL(exec_sql(db, sql), "");
      auto before = query_text(db, "PRAGMA user_version") + "|" +
                    query_text(db, "SELECT group_concat(name) FROM "
                                   "sqlite_master");
      auto res = cartd_process::run(cartd_binary(), sqlite_args(data), 20s);
      BOOST_REQUIRE_MESSAGE(res.status, "cartd still runs after 20 s");
      BOOST_TEST(res.status->signal == 0);
      BOOST_TEST(res.status->code == 1);
      BOOST_TEST(res.err.find(data.path()) != std::string::npos,
                 "stderr does not name the path: " << res.err);
      auto after = query_text(db, "PRAGMA user_version") + "|" +
                   query_text(db, "SELECT group_concat(name) FROM "
                                  "sqlite_master");
      BOOST_TEST(after == before, "the database was changed");
    }
  }
}

BOOST_AUTO_TEST_CASE(full_journal_refuses_writes_with_503_and_keeps_reads) {
  temp_dir data;
  // What each cart must hold: its lines and version.
  std::map<std::string, std::pair<json, uint64_t>> expected;
  std::string refused_cart;
  std::string refused_item;
  auto key_of = [](const std::string& cart) {
    return header_list{{"Idempotency-Key", "fill-" + cart}};
  };
  auto check_expected = [&](uint16_t port) {
    for (auto& [cart, state] : expected)
      check_cart(call(port, "GET", "/carts/" + cart), cart, state.first,
                 state.second);
  };
  {
    test_node node{sqlite_args(data, {"--storage.max-pages=12"})};
    auto port = node.port();
    http_connection conn{port, 30s};
    std::optional<http_response> refused;
    for (int i = 0; i < 2000 && !refused; ++i) {
      auto cart = "full-" + std::to_string(i);
      auto item = std::string(100, static_cast<char>('a' + i % 26)) + "-" +
                  std::to_string(i);
      auto res = conn.exchange("POST", "/carts/" + cart + "/items",
                               add_body(item), key_of(cart));
      if (res.result_int() == 200u) {
        expected[cart] = {items({{item, 1}}), 1};
      } else {
        refused = std::move(res);
        refused_cart = cart;
        refused_item = item;
      }
    }
    BOOST_REQUIRE_MESSAGE(refused, "2000 carts fit in 12 pages");
    BOOST_TEST_MESSAGE(expected.size() << " carts acknowledged before the "
                                          "journal was full");
    BOOST_TEST(expected.size() > 0u);
    check_framing(*refused);
    check_error(*refused, 503, "storage_failure");
    // The refused change did not happen.
    expected[refused_cart] = {items({}), 0};
    // Changes to acknowledged carts: whatever the answer, the state matches
    // it (a 503 changes nothing, a 200 is kept).
    int more = 0;
    for (auto& [cart, state] : expected) {
      if (cart == refused_cart)
        continue;
      if (++more > 8)
        break;
      auto res =
          call(port, "POST", "/carts/" + cart + "/items", add_body("zz-more"));
      BOOST_TEST_CONTEXT("add to " << cart << ": " << res.result_int() << " "
                                   << res.body()) {
        if (res.result_int() == 200u) {
          state.first.push_back({{"item", "zz-more"}, {"quantity", 1}});
          std::sort(state.first.begin(), state.first.end(),
                    [](const json& x, const json& y) {
                      return x["item"].get<std::string>() <
                             y["item"].get<std::string>();
                    });
          state.second += 1;
        } else {
          check_error(res, 503, "storage_failure");
        }
      }
    }
    check_expected(port);
    auto health = call(port, "GET", "/health");
    BOOST_TEST(health.result_int() == 200u);
    check_json(body_json(health), json{{"status", "ok"}});
    stop_gracefully(node);
  }
  BOOST_TEST(integrity_check(data.path() + "/cartd.db") == "ok");
  {
    test_node node{sqlite_args(data)};
    auto port = node.port();
    check_expected(port);
    // The refused request's key was not recorded: its retry applies now.
    check_cart(call(port, "POST", "/carts/" + refused_cart + "/items",
                    add_body(refused_item), key_of(refused_cart)),
               refused_cart, items({{refused_item, 1}}), 1);
    stop_gracefully(node);
  }
  BOOST_TEST(integrity_check(data.path() + "/cartd.db") == "ok");
}

// -- graceful shutdown
// ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sigterm_under_load_keeps_every_acknowledged_add) {
  temp_dir data;
  const std::string prefix = "term-";
  test_node first{sqlite_args(data)};
  std::optional<exit_status> status;
  auto logs = run_load_and_stop(first, prefix, 300, 1000ms, [&] {
    first.proc().kill(SIGTERM);
    status = first.proc().wait_exit(20s);
    if (!status)
      first.proc().kill(SIGKILL);
  });
  BOOST_REQUIRE_MESSAGE(status, "cartd still runs 20 s after SIGTERM");
  BOOST_TEST(status->signal == 0);
  BOOST_TEST(status->code == 0);
  // Closing the journal checkpoints the WAL into the database.
  BOOST_TEST(!std::filesystem::exists(data.path() + "/cartd.db-wal"),
             "cartd.db-wal is left over after a graceful stop");
  check_clean_before_stop(logs);
  test_node second{sqlite_args(data)};
  check_recovered_load(second.port(), prefix, logs);
}
