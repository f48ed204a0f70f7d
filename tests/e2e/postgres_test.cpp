// End-to-end tests of nodes on the PostgreSQL journal: real cartd child
// processes on a real, throwaway PostgreSQL server (one per test binary,
// tests/support/postgres_server), each test in a schema of its own.
//
//   test ──► node A ─┐
//   test ──► node B ─┴──► PostgreSQL (schema per test) ◄── crash() / start()
//
// Client threads never call Boost.Test macros (they are not thread-safe);
// they record what they saw and the main thread checks it after joining.

#define BOOST_TEST_MODULE e2e_postgres
#include "tests/e2e/e2e.hpp"
#include "tests/e2e/keyed_load.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/postgres_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cartd::test;

namespace {

postgres_server& server() {
  static postgres_server instance;
  return instance;
}

/// Options of a node journaling to `schema` on the test server, plus `extra`.
std::vector<std::string> pg_args(const std::string& schema,
                                 std::vector<std::string> extra = {}) {
  std::vector<std::string> result{"--storage.backend=postgres",
                                  "--storage.postgres=" + server().conninfo(),
                                  "--storage.postgres-schema=" + schema};
  result.insert(result.end(), extra.begin(), extra.end());
  return result;
}

/// A TCP port of 127.0.0.1 nothing listens on (bound, then closed).
uint16_t closed_port() {
  auto fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

/// Polls `GET /ready` until it answers `status` (true) or `bound` passes.
bool ready_becomes(uint16_t port, unsigned status,
                   std::chrono::milliseconds bound) {
  auto deadline = steady_clock::now() + bound;
  while (steady_clock::now() < deadline) {
    try {
      if (http_call(port, "GET", "/ready").result_int() == status)
        return true;
    } catch (const std::exception&) {
      // Not up yet.
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

using ms = std::chrono::milliseconds;

long long millis(steady_clock::duration d) {
  return std::chrono::duration_cast<ms>(d).count();
}

} // namespace

// -- crashes of the node ------------------------------------------------------

BOOST_AUTO_TEST_CASE(sigkill_under_keyed_load_applies_every_add_once) {
  check_keyed_retries_across_sigkill("pgkill-",
                                     [] { return pg_args("sigkill"); });
}

// -- the database going away --------------------------------------------------

BOOST_AUTO_TEST_CASE(database_restart_under_load_loses_and_doubles_nothing) {
  const std::string prefix = "dbr-";
  // The server trusts every connection: the password is unused, but every
  // reconnect error the node logs during the outage must leave it out.
  test_node node{
      {"--storage.backend=postgres",
       "--storage.postgres=" + server().conninfo() + " password=s3cret",
       "--storage.postgres-schema=db_restart"}};
  auto port = node.port();
  // A resident cart that nobody changes during the outage.
  BOOST_REQUIRE(
      call(port, "POST", items_path("dbr-resident"), add_body("apple", 2))
          .result_int() == 200u);
  auto resident = call(port, "GET", cart_path("dbr-resident"));
  BOOST_REQUIRE(resident.result_int() == 200u);
  std::vector<keyed_log> logs(load_clients);
  std::atomic<uint16_t> port_in_use{port};
  std::atomic<bool> stopping{false};
  std::atomic<int> acked{0};
  bool ready_503 = false;
  bool ready_200 = false;
  bool writes_back = false;
  std::vector<std::string> outage_reads;
  steady_clock::time_point crashed_at;
  steady_clock::time_point started_at;
  steady_clock::time_point ready_at;
  {
    client_threads threads{stopping};
    for (int i = 0; i < load_clients; ++i)
      threads.start(drive_keyed_adds, std::cref(port_in_use), prefix, i,
                    std::cref(stopping), std::ref(acked), std::ref(logs[i]));
    auto wait_for_acks = [&](int n, std::chrono::seconds bound) {
      auto deadline = steady_clock::now() + bound;
      while (acked.load() < n && steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
      return acked.load() >= n;
    };
    BOOST_REQUIRE(wait_for_acks(300, 30s));
    crashed_at = steady_clock::now();
    server().crash();
    // The first failed commit marks the journal unavailable.
    ready_503 = ready_becomes(port, 503, 10s);
    // Reads of resident carts keep working meanwhile.
    for (int i = 0; i < 10; ++i) {
      auto res = call(port, "GET", cart_path("dbr-resident"));
      if (res.result_int() != 200u || res.body() != resident.body())
        outage_reads.push_back(std::to_string(res.result_int()) + " " +
                               res.body());
      std::this_thread::sleep_for(200ms);
    }
    started_at = steady_clock::now();
    server().start();
    ready_200 = ready_becomes(port, 200, 60s);
    ready_at = steady_clock::now();
    writes_back = wait_for_acks(acked.load() + 200, 60s);
  }
  BOOST_TEST(node.proc().running(), "the node died during the outage");
  auto log = node.proc().stderr_text();
  BOOST_TEST(log.find("s3cret") == std::string::npos,
             "the password is in the node's log");
  BOOST_TEST(log.find("journal") != std::string::npos,
             "the node logged nothing about the outage");
  BOOST_TEST(ready_503, "GET /ready never answered 503 during the outage");
  BOOST_TEST(ready_200, "GET /ready did not answer 200 within 60 s after "
                        "the server was back");
  BOOST_TEST(writes_back, "writes did not succeed again within 60 s");
  BOOST_TEST(outage_reads.empty(),
             outage_reads.size()
                 << " reads of a resident cart failed during the outage, "
                    "first: "
                 << (outage_reads.empty() ? "" : outage_reads.front()));
  // Every 5xx is a JSON error; count them and the unknown outcomes.
  int errors = 0;
  int unknown = 0;
  std::map<std::string, int> codes;
  for (auto& log : logs)
    for (auto& what : log.server_errors) {
      ++errors;
      auto text = what.substr(what.find(": ") + 2);
      auto status = text.substr(0, 3);
      auto body = json::parse(text.substr(4), nullptr, false);
      BOOST_TEST((status == "503" && body.is_object() &&
                  body.contains("error") && body.contains("message")),
                 what);
      if (body.is_object())
        ++codes[body.value("error", "") + ": " + body.value("message", "")];
      if (text.find("may or may not have been applied") != std::string::npos)
        ++unknown;
    }
  // When writes worked again: the first 2xx answered after start().
  // And when the last 5xx came (carts parked by their restart limit answer
  // 503 unavailable for supervisor.restart-period).
  std::optional<steady_clock::time_point> first_ok;
  auto last_error = started_at;
  for (auto& log : logs)
    for (auto& [when, status] : log.answers) {
      if (status / 100 == 2 && when > started_at &&
          (!first_ok || when < *first_ok))
        first_ok = when;
      if (status / 100 == 5)
        last_error = std::max(last_error, when);
    }
  BOOST_TEST_MESSAGE("database restart: "
                     << errors << " 5xx answers (" << unknown
                     << " saying the change may have been applied), server "
                        "down for "
                     << millis(started_at - crashed_at) << " ms; /ready 200 "
                     << millis(ready_at - started_at)
                     << " ms and the first write "
                     << (first_ok ? millis(*first_ok - started_at) : -1)
                     << " ms after start(), the last 5xx "
                     << millis(last_error - started_at) << " ms after it");
  for (auto& [what, n] : codes)
    BOOST_TEST_MESSAGE("  " << n << " x " << what);
  check_every_logical_add_once(port, prefix, logs);
  // The resident cart is unchanged.
  BOOST_TEST(call(port, "GET", cart_path("dbr-resident")).body() ==
             resident.body());
}

// -- two nodes on one schema --------------------------------------------------

BOOST_AUTO_TEST_CASE(a_stale_writer_loses_with_a_conflict_and_recovers) {
  // The cluster's case, step by step: each node holds the cart resident
  // and believes it knows its version. The (stream, seq) key makes the
  // stale one lose; its cart restarts from the journal and the retry lands.
  test_node a{pg_args("stale_writer")};
  test_node b{pg_args("stale_writer")};
  auto add = [](test_node& node, const std::string& item) {
    return call(node.port(), "POST", items_path("two-steps"), add_body(item));
  };
  auto version_of = [](const http_response& res) {
    return body_json(res).value("version", uint64_t{0});
  };
  auto first = add(a, "a1");
  BOOST_TEST(first.result_int() == 200u);
  BOOST_TEST(version_of(first) == 1u);
  // B activates the cart from the journal: it sees a1.
  auto second = add(b, "b1");
  BOOST_TEST(second.result_int() == 200u);
  BOOST_TEST(version_of(second) == 2u);
  for (auto [node, item, version] :
       {std::tuple{&a, "a2", 3u}, std::tuple{&b, "b2", 4u}}) {
    BOOST_TEST_CONTEXT("adding " << item) {
      // The node's resident cart is one version behind.
      check_error(add(*node, item), 503, "storage_failure");
      auto retry = add(*node, item);
      BOOST_TEST(retry.result_int() == 200u, retry.body());
      BOOST_TEST(version_of(retry) == version);
    }
  }
  stop_gracefully(a);
  stop_gracefully(b);
  test_node again{pg_args("stale_writer")};
  check_cart(call(again.port(), "GET", cart_path("two-steps")), "two-steps",
             items({{"a1", 1}, {"a2", 1}, {"b1", 1}, {"b2", 1}}), 4);
}

BOOST_AUTO_TEST_CASE(two_nodes_on_one_schema_never_both_append_to_a_cart) {
  check_two_nodes_on_one_cart([] { return pg_args("two_nodes"); }, 2s);
}

// -- moving up from SQLite ----------------------------------------------------

namespace {

struct stored_cart {
  std::string body;
  std::string etag;
};

stored_cart read_cart(uint16_t port, const std::string& id) {
  auto res = call(port, "GET", cart_path(id));
  BOOST_TEST(res.result_int() == 200u, id << ": " << res.body());
  return {res.body(), std::string{res[boost::beast::http::field::etag]}};
}

} // namespace

BOOST_AUTO_TEST_CASE(imported_carts_read_the_same_and_a_second_import_refuses) {
  temp_dir data;
  const std::vector<std::string> ids{"imp-a", "imp-b", "imp-c", "imp-d",
                                     "imp-e"};
  std::map<std::string, stored_cart> before;
  std::string keyed_answer;
  {
    test_node sqlite{
        sqlite_node_args(data, {"--storage.snapshot-every=3"}, "full")};
    auto port = sqlite.port();
    for (size_t n = 0; n < ids.size(); ++n) {
      auto& id = ids[n];
      auto ok = [&](const http_response& res) {
        BOOST_TEST(res.result_int() == 200u, id << ": " << res.body());
        return res.body();
      };
      for (size_t i = 0; i <= n * 2; ++i)
        ok(call(port, "POST", items_path(id), add_body("apple")));
      // Quotes, a backslash and UTF-8: COPY's escaping is exercised.
      ok(call(port, "POST", items_path(id), add_body("pear \"x\" \\ \u00fc", 3),
              {{"Idempotency-Key", id + "-k1"}}));
      ok(call(port, "PUT", item_path(id, "apple"), R"({"quantity":7})"));
      if (id == "imp-b")
        ok(call(port, "DELETE", item_path(id, "apple")));
      if (id == "imp-c")
        ok(call(port, "POST", "/carts/imp-c/checkout"));
      if (id == "imp-e")
        keyed_answer = ok(call(port, "POST", items_path(id), add_body("fig"),
                               {{"Idempotency-Key", "imp-e-k2"}}));
    }
    for (auto& id : ids)
      before[id] = read_cart(port, id);
    stop_gracefully(sqlite);
  }
  auto import = [&] {
    return cartd_process::run(
        cartd_binary(),
        pg_args("imported", {"--storage.import=sqlite:" + data.path()}), 60s);
  };
  auto first = import();
  BOOST_REQUIRE_MESSAGE(first.status, "the import did not end within 60 s");
  BOOST_TEST_CONTEXT("stdout: " << first.out << "\nstderr: " << first.err) {
    BOOST_TEST(first.status->code == 0);
    BOOST_TEST(first.out.find("imported 5 streams, ") != std::string::npos);
    BOOST_TEST(first.out.find(" snapshots, 6 idempotency keys") !=
               std::string::npos);
  }
  auto events = server().query("SELECT count(*) FROM imported.events");
  auto snapshots = server().query("SELECT count(*) FROM imported.snapshots");
  BOOST_TEST(first.out.find(events + " events, " + snapshots + " snapshots") !=
                 std::string::npos,
             first.out << " (the schema holds " << events << " events, "
                       << snapshots << " snapshots)");
  auto second = import();
  BOOST_REQUIRE(second.status);
  BOOST_TEST_CONTEXT("stderr: " << second.err) {
    BOOST_TEST(second.status->code != 0);
    BOOST_TEST(second.err.find("already holds 5 of the imported streams") !=
               std::string::npos);
    BOOST_TEST(second.err.find("imp-a") != std::string::npos);
  }
  BOOST_TEST(server().query("SELECT count(*) FROM imported.events") == events,
             "the refused import stored events");
  test_node pg{pg_args("imported")};
  for (auto& id : ids) {
    auto after = read_cart(pg.port(), id);
    BOOST_TEST(after.body == before[id].body, id);
    BOOST_TEST(after.etag == before[id].etag, id);
  }
  // The idempotency keys came along: a retry gets the stored answer.
  auto retry = call(pg.port(), "POST", items_path("imp-e"), add_body("fig"),
                    {{"Idempotency-Key", "imp-e-k2"}});
  BOOST_TEST(retry.body() == keyed_answer);
  BOOST_TEST(read_cart(pg.port(), "imp-e").body == before["imp-e"].body);
}

BOOST_AUTO_TEST_CASE(an_import_of_a_missing_journal_exits_non_zero) {
  temp_dir empty;
  auto res = cartd_process::run(
      cartd_binary(),
      pg_args("imported_nothing", {"--storage.import=sqlite:" + empty.path()}),
      60s);
  BOOST_REQUIRE(res.status);
  BOOST_TEST(res.status->code != 0);
  BOOST_TEST(res.err.find("no SQLite journal at") != std::string::npos,
             res.err);
}

// -- start-up
// ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_unreachable_server_stops_the_start_without_a_password) {
  auto port = std::to_string(closed_port());
  auto res = cartd_process::run(
      cartd_binary(),
      {"--storage.backend=postgres",
       "--storage.postgres=host=127.0.0.1 port=" + port +
           " user=postgres password=s3cret dbname=postgres connect_timeout=2"},
      30s);
  BOOST_REQUIRE_MESSAGE(res.status, "cartd still ran after 30 s");
  BOOST_TEST_CONTEXT("stderr: " << res.err) {
    BOOST_TEST(res.status->signal == 0);
    BOOST_TEST(res.status->code == 1);
    BOOST_TEST(res.err.find("cannot open the journal") != std::string::npos);
    BOOST_TEST(res.err.find(port) != std::string::npos);
    BOOST_TEST(res.err.find("s3cret") == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_newer_schema_version_stops_the_start) {
  {
    test_node first{pg_args("newer")};
    stop_gracefully(first);
  }
  server().query("UPDATE newer.schema_version SET version = 7");
  auto res = cartd_process::run(cartd_binary(), pg_args("newer"), 30s);
  BOOST_REQUIRE_MESSAGE(res.status, "cartd still ran after 30 s");
  BOOST_TEST_CONTEXT("stderr: " << res.err) {
    BOOST_TEST(res.status->signal == 0);
    BOOST_TEST(res.status->code == 1);
    BOOST_TEST(res.err.find("cannot open the journal") != std::string::npos);
    BOOST_TEST(res.err.find("version 7") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(the_start_line_names_the_database_but_no_password) {
  // The test server trusts every connection, so the password is unused.
  auto conninfo = server().conninfo() + " password=s3cret";
  test_node node{{"--storage.backend=postgres",
                  "--storage.postgres=" + conninfo,
                  "--storage.postgres-schema=start_line"}};
  call(node.port(), "POST", items_path("line"), add_body("apple"));
  auto text = node.proc().stderr_text();
  auto where = "host=127.0.0.1 port=" + std::to_string(server().port()) +
               " dbname=postgres schema=start_line";
  BOOST_TEST(text.find(where) != std::string::npos, text);
  BOOST_TEST(text.find("s3cret") == std::string::npos, text);
}
