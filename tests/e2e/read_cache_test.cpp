// End-to-end tests of the front end's read cache: `GET /carts/{id}` is
// answered from a copy inside the HTTP broker once it watches the cart, and
// must never be stale. Every test reads through real HTTP from a real cartd
// and compares with what it knows the cart must hold:
//
// - what the test itself was told by acknowledged changes (read your writes,
//   also across passivation, crashes, the resident cap and many clients);
// - changes the broker under test never saw: a second node on the same
//   SQLite journal changes a cart ("out of band"). The first node may show
//   its old copy while its cart incarnation lives (two writers are not a
//   supported set-up), but once that incarnation ended (passivation, crash,
//   eviction) a GET must show the journal's state: a broker that kept a copy
//   past its incarnation would serve the old one forever;
// - a fresh node recovering from the same journal, after a change that was
//   answered 503 but committed later.
//
// Client threads never call Boost.Test macros (they are not thread-safe);
// they record what they saw and the main thread checks it after joining.

#define BOOST_TEST_MODULE e2e_read_cache
#include "tests/e2e/e2e.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <exception>
#include <functional>
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

namespace http = boost::beast::http;

using std::chrono::steady_clock;

// -- requests -----------------------------------------------------------------

std::string crash_path(std::string_view cart) {
  return "/debug/carts/" + std::string{cart} + "/crash";
}

std::string add_body(std::string_view item, int64_t quantity = 1) {
  return json{{"item", std::string{item}}, {"quantity", quantity}}.dump();
}

std::string set_body(int64_t quantity) {
  return json{{"quantity", quantity}}.dump();
}

std::string etag(uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

// -- what a cart must hold ----------------------------------------------------

/// The state a cart must have, kept by the test from acknowledged changes.
struct cart_model {
  std::string id;
  std::map<std::string, int64_t> lines;
  uint64_t version = 0;
  bool checked_out = false;

  explicit cart_model(std::string cart_id) : id(std::move(cart_id)) {}

  json items_json() const {
    std::vector<std::pair<std::string, int64_t>> xs(lines.begin(), lines.end());
    return items(std::move(xs));
  }

  void add(const std::string& item, int64_t quantity) {
    lines[item] += quantity;
    ++version;
  }

  void set(const std::string& item, int64_t quantity) {
    if (quantity == 0)
      lines.erase(item);
    else
      lines[item] = quantity;
    ++version;
  }

  void remove(const std::string& item) {
    lines.erase(item);
    ++version;
  }

  void clear() {
    lines.clear();
    ++version;
  }

  void checkout() {
    checked_out = true;
    ++version;
  }
};

/// Checks a 200 cart response against `m` (body, version, ETag).
json expect_cart(const http_response& res, const cart_model& m) {
  return check_cart(res, m.id, m.items_json(), m.version, m.checked_out);
}

/// GETs the cart of `m` on a connection of its own and checks it.
json expect_get(uint16_t port, const cart_model& m) {
  return expect_cart(call(port, "GET", cart_path(m.id)), m);
}

/// The quantity of `item` in a cart body (0 without such a line, -1 if the
/// body is no cart).
int64_t quantity_of(const json& cart, std::string_view item) {
  if (!cart.is_object() || !cart.contains("items") || !cart["items"].is_array())
    return -1;
  for (auto& line : cart["items"])
    if (line.value("item", "") == item)
      return line.value("quantity", int64_t{-1});
  return 0;
}

/// The cart in a response, or a discarded value if it is not a 200 cart.
json cart_of(const http_response& res) {
  if (res.result_int() != 200u)
    return json(json::value_t::discarded);
  return json::parse(res.body(), nullptr, false);
}

/// GETs `target` every 50 ms until `done(response)` or `deadline` passed;
/// returns the last response. For waits on the node, never for timing
/// assertions: the deadline is generous.
template <class Done>
http_response poll_get(uint16_t port, const std::string& target,
                       steady_clock::time_point deadline, Done done) {
  for (;;) {
    auto res = http_call(port, "GET", target);
    if (done(res) || steady_clock::now() >= deadline)
      return res;
    std::this_thread::sleep_for(50ms);
  }
}

// -- nodes --------------------------------------------------------------------

/// Options of a node journaling to `data` (SQLite) without fsync per commit
/// (what these tests check does not depend on it), plus `extra`. Shared
/// storage: the tests of changes the broker never saw run a second node on
/// the same journal, which a node refuses by default.
std::vector<std::string> sqlite_args(const temp_dir& data,
                                     std::vector<std::string> extra = {}) {
  extra.emplace_back("--debug.shared-storage=true");
  return sqlite_node_args(data, std::move(extra), "normal");
}

/// Stops `node` with SIGTERM and checks that it exits 0.
void stop_gracefully(test_node& node) {
  node.proc().kill(SIGTERM);
  auto status = node.proc().wait_exit(20s);
  if (!status) {
    node.proc().kill(SIGKILL);
    node.proc().wait_exit(10s);
  }
  BOOST_REQUIRE_MESSAGE(status, "cartd still runs 20 s after SIGTERM");
  BOOST_TEST(status->signal == 0);
  BOOST_TEST(status->code == 0);
}

/// Checks that a change answered while the journal could not commit yet (and
/// later does) was answered as of unknown outcome: 503 `timeout`, whether
/// the front end's request timeout or the cart's journal timeout came first.
/// Never `storage_failure`, which promises that nothing was changed.
void check_unknown_outcome(const http_response& res) {
  BOOST_TEST_CONTEXT("response " << res.result_int() << " " << res.body()) {
    BOOST_TEST(res.result_int() == 503u);
    auto body = json::parse(res.body(), nullptr, false);
    auto code = body.is_object() ? body.value("error", "") : "";
    BOOST_TEST(code == "timeout");
  }
}

} // namespace

// -- read your writes ---------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(read_your_writes, shared_node_fixture)

BOOST_AUTO_TEST_CASE(every_kind_of_change_is_visible_to_the_next_get) {
  cart_model m{"ryw-mixed"};
  // The first GET watches the cart; later ones may come from the copy.
  expect_get(port, m);
  expect_get(port, m);
  // Reads on a keep-alive connection and on connections of their own: both
  // must see each change as soon as it is acknowledged.
  http_connection reader{port};
  auto step = [&](const char* what, const http_response& res) {
    BOOST_TEST_CONTEXT("after " << what) {
      check_framing(res);
      auto body = expect_cart(res, m);
      auto again = call(port, "GET", cart_path(m.id));
      expect_cart(again, m);
      // Exactly the state the change acknowledged, byte for byte.
      BOOST_TEST(again.body() == res.body());
      auto kept = reader.exchange("GET", cart_path(m.id));
      check_framing(kept);
      expect_cart(kept, m);
      auto head = reader.exchange("HEAD", cart_path(m.id));
      BOOST_TEST(std::string{head[http::field::etag]} == etag(m.version));
      BOOST_TEST(std::string{head[http::field::content_length]} ==
                 std::to_string(res.body().size()));
    }
  };
  m.add("apple", 2);
  step("POST add", call(port, "POST", items_path(m.id), add_body("apple", 2)));
  m.add("pear", 1);
  step("POST add of a second line",
       call(port, "POST", items_path(m.id), add_body("pear", 1)));
  m.add("apple", 3);
  step("POST add to an existing line",
       call(port, "POST", items_path(m.id), add_body("apple", 3)));
  m.set("pear", 5);
  step("PUT set", call(port, "PUT", item_path(m.id, "pear"), set_body(5)));
  m.set("kiwi", 4);
  step("PUT set of a new line",
       call(port, "PUT", item_path(m.id, "kiwi"), set_body(4)));
  m.set("apple", 0);
  step("PUT set to 0",
       call(port, "PUT", item_path(m.id, "apple"), set_body(0)));
  m.remove("kiwi");
  step("DELETE item", call(port, "DELETE", item_path(m.id, "kiwi")));
  m.clear();
  step("DELETE cart", call(port, "DELETE", cart_path(m.id)));
  m.clear();
  step("DELETE of an empty cart", call(port, "DELETE", cart_path(m.id)));
  m.add("caf\xC3\xA9 / 100%", 7);
  step("POST add of an item that needs escaping",
       call(port, "POST", items_path(m.id), add_body("caf\xC3\xA9 / 100%", 7)));
  m.add("fig", 1);
  step("POST add with a matching If-Match",
       call(port, "POST", items_path(m.id), add_body("fig"),
            {{"If-Match", etag(m.version - 1)}}));
  // Refused changes leave the state (and the copy) alone.
  BOOST_TEST_CONTEXT("refused changes") {
    check_error(call(port, "POST", items_path(m.id), add_body("plum"),
                     {{"If-Match", etag(m.version - 1)}}),
                412, "version_mismatch");
    check_error(call(port, "DELETE", item_path(m.id, "nope")), 404,
                "item_not_found");
    check_error(call(port, "PUT", item_path(m.id, "fig"), set_body(-1)), 400,
                "invalid_quantity");
    expect_get(port, m);
  }
  m.checkout();
  step("POST checkout", call(port, "POST", cart_path(m.id) + "/checkout"));
  check_error(call(port, "POST", items_path(m.id), add_body("plum")), 409,
              "checked_out");
  check_error(call(port, "DELETE", cart_path(m.id)), 409, "checked_out");
  expect_get(port, m);
}

BOOST_AUTO_TEST_CASE(changes_on_one_connection_are_seen_on_another) {
  // Writer and reader on two keep-alive connections, alternating.
  cart_model m{"ryw-conns"};
  http_connection writer{port};
  http_connection reader{port};
  expect_cart(reader.exchange("GET", cart_path(m.id)), m);
  for (int i = 0; i < 40; ++i) {
    auto item = "i" + std::to_string(i % 7);
    http_response res;
    switch (i % 4) {
    case 0:
    case 1:
      m.add(item, i + 1);
      res = writer.exchange("POST", items_path(m.id), add_body(item, i + 1));
      break;
    case 2:
      m.set(item, i);
      res = writer.exchange("PUT", item_path(m.id, item), set_body(i));
      break;
    default:
      if (m.lines.count(item) > 0) {
        m.remove(item);
        res = writer.exchange("DELETE", item_path(m.id, item));
      } else {
        m.clear();
        res = writer.exchange("DELETE", cart_path(m.id));
      }
    }
    BOOST_TEST_CONTEXT("change #" << i) {
      expect_cart(res, m);
      auto read = reader.exchange("GET", cart_path(m.id));
      expect_cart(read, m);
      BOOST_TEST(read.body() == res.body());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_replayed_idempotent_response_does_not_roll_back_reads) {
  // A retry with an Idempotency-Key gets the original (older) cart; the
  // copy must keep the newer state.
  cart_model m{"ryw-idem"};
  expect_get(port, m);
  header_list key{{"Idempotency-Key", "ryw-idem-1"}};
  m.add("fig", 2);
  auto original = call(port, "POST", items_path(m.id), add_body("fig", 2), key);
  expect_cart(original, m);
  expect_get(port, m);
  m.add("kiwi", 1);
  expect_cart(call(port, "POST", items_path(m.id), add_body("kiwi")), m);
  auto replay = call(port, "POST", items_path(m.id), add_body("fig", 2), key);
  BOOST_TEST(replay.result_int() == 200u);
  BOOST_TEST(replay.body() == original.body());
  expect_get(port, m);
  expect_get(port, m);
}

BOOST_AUTO_TEST_CASE(changes_through_the_seed_api_are_visible) {
  // POST /cart and DELETE /cart/{item} change the cart "default".
  auto current = cart_of(call(port, "GET", "/carts/default"));
  BOOST_REQUIRE(current.is_object());
  auto version = current.value("version", uint64_t{0});
  auto before = quantity_of(current, "ryw-seed");
  BOOST_REQUIRE(before >= 0);
  BOOST_TEST(
      call(port, "POST", "/cart", R"({"item":"ryw-seed"})").result_int() ==
      200u);
  auto after_add = cart_of(call(port, "GET", "/carts/default"));
  BOOST_TEST(quantity_of(after_add, "ryw-seed") == before + 1);
  BOOST_TEST(after_add.value("version", uint64_t{0}) == version + 1);
  BOOST_TEST(call(port, "DELETE", "/cart/ryw-seed").result_int() == 200u);
  auto after_remove = cart_of(call(port, "GET", "/carts/default"));
  BOOST_TEST(quantity_of(after_remove, "ryw-seed") == before);
  BOOST_TEST(after_remove.value("version", uint64_t{0}) == version + 2);
}

BOOST_AUTO_TEST_SUITE_END()

// -- passivation --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(passivation)

BOOST_AUTO_TEST_CASE(a_passivated_cart_reads_the_same_and_shows_later_changes) {
  temp_dir data;
  test_node node{sqlite_args(data, {"--carts.idle-timeout=100ms"})};
  auto port = node.port();
  cart_model m{"pas-own"};
  expect_get(port, m);
  m.add("apple", 2);
  expect_cart(call(port, "POST", items_path(m.id), add_body("apple", 2)), m);
  auto watched = call(port, "GET", cart_path(m.id));
  expect_cart(watched, m);
  // Mutations of each kind, each after the cart passivated (well past its
  // idle timeout; reads from the copy do not keep it resident).
  struct change {
    const char* what;
    std::function<http_response()> run;
  };
  std::vector<change> changes{
      {"POST add",
       [&] {
         m.add("pear", 3);
         return call(port, "POST", items_path(m.id), add_body("pear", 3));
       }},
      {"PUT set",
       [&] {
         m.set("apple", 9);
         return call(port, "PUT", item_path(m.id, "apple"), set_body(9));
       }},
      {"DELETE item",
       [&] {
         m.remove("pear");
         return call(port, "DELETE", item_path(m.id, "pear"));
       }},
      {"checkout",
       [&] {
         m.checkout();
         return call(port, "POST", cart_path(m.id) + "/checkout");
       }},
  };
  for (auto& x : changes) {
    BOOST_TEST_CONTEXT("passivated, then " << x.what) {
      std::this_thread::sleep_for(500ms);
      // Unchanged: the same state as before the passivation.
      auto same = call(port, "GET", cart_path(m.id));
      expect_cart(same, m);
      BOOST_TEST(same.body() == watched.body());
      // Passivate again (the GET above may have activated it), then change.
      std::this_thread::sleep_for(500ms);
      auto res = x.run();
      expect_cart(res, m);
      auto after = call(port, "GET", cart_path(m.id));
      expect_cart(after, m);
      BOOST_TEST(after.body() == res.body());
      watched = std::move(after);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_passivated_cart_shows_changes_the_broker_never_saw) {
  // Node b writes to carts that node a has copies of. Once a's cart
  // incarnations passivated, a's GETs must show b's changes.
  temp_dir data;
  auto args = sqlite_args(data, {"--carts.idle-timeout=100ms"});
  test_node a{args};
  test_node b{args};
  // "pas-watched": a watches it; "pas-written": a only wrote it (a copy
  // from a change's answer, never watched); "pas-both": watched and written.
  cart_model watched{"pas-watched"};
  cart_model written{"pas-written"};
  cart_model both{"pas-both"};
  expect_get(a.port(), watched);
  written.add("a-item", 1);
  expect_cart(
      call(a.port(), "POST", items_path(written.id), add_body("a-item")),
      written);
  expect_get(a.port(), both);
  both.add("a-item", 1);
  expect_cart(call(a.port(), "POST", items_path(both.id), add_body("a-item")),
              both);
  expect_get(a.port(), both);
  // Let a's carts passivate before b writes: a's incarnations never see b's
  // changes, only the journal has them.
  std::this_thread::sleep_for(500ms);
  for (auto* m : {&watched, &written, &both}) {
    BOOST_TEST_CONTEXT("cart " << m->id) {
      m->add("b-item", 2);
      expect_cart(
          call(b.port(), "POST", items_path(m->id), add_body("b-item", 2)), *m);
    }
  }
  // Poll rather than assume how long the passivation takes; a stale copy
  // never shows b's change.
  auto deadline = steady_clock::now() + 10s;
  for (auto* m : {&watched, &written, &both}) {
    BOOST_TEST_CONTEXT("cart " << m->id << " on node a") {
      auto res = poll_get(a.port(), cart_path(m->id), deadline, [](auto& res) {
        return quantity_of(cart_of(res), "b-item") == 2;
      });
      expect_cart(res, *m);
      expect_get(a.port(), *m);
      // And a continues from b's version.
      m->add("a-again", 1);
      expect_cart(
          call(a.port(), "POST", items_path(m->id), add_body("a-again")), *m);
      expect_get(a.port(), *m);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// -- crashes ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(crashes)

BOOST_AUTO_TEST_CASE(a_crashed_cart_reads_correctly_before_and_after_changes) {
  temp_dir data;
  test_node node{sqlite_args(data, {"--debug.fault-injection=true",
                                    "--supervisor.max-restarts=1000",
                                    "--supervisor.restart-period=1s"})};
  auto port = node.port();
  cart_model m{"crash-own"};
  expect_get(port, m);
  m.add("apple", 2);
  expect_cart(call(port, "POST", items_path(m.id), add_body("apple", 2)), m);
  expect_get(port, m);
  struct change {
    const char* what;
    std::function<http_response()> run;
  };
  std::vector<change> changes{
      {"POST add",
       [&] {
         m.add("pear", 1);
         return call(port, "POST", items_path(m.id), add_body("pear", 1));
       }},
      {"PUT set",
       [&] {
         m.set("apple", 5);
         return call(port, "PUT", item_path(m.id, "apple"), set_body(5));
       }},
      {"DELETE item",
       [&] {
         m.remove("pear");
         return call(port, "DELETE", item_path(m.id, "pear"));
       }},
      {"DELETE cart",
       [&] {
         m.clear();
         return call(port, "DELETE", cart_path(m.id));
       }},
      {"POST add after a clear",
       [&] {
         m.add("fig", 4);
         return call(port, "POST", items_path(m.id), add_body("fig", 4));
       }},
      {"checkout",
       [&] {
         m.checkout();
         return call(port, "POST", cart_path(m.id) + "/checkout");
       }},
  };
  for (auto& x : changes) {
    BOOST_TEST_CONTEXT("crash, then " << x.what) {
      check_error(call(port, "POST", crash_path(m.id)), 500, "crashed");
      expect_get(port, m);
      auto res = x.run();
      expect_cart(res, m);
      auto after = call(port, "GET", cart_path(m.id));
      expect_cart(after, m);
      BOOST_TEST(after.body() == res.body());
      expect_get(port, m);
    }
  }
  // Crashing twice in a row without a GET in between.
  check_error(call(port, "POST", crash_path(m.id)), 500, "crashed");
  check_error(call(port, "POST", crash_path(m.id)), 500, "crashed");
  expect_get(port, m);
}

BOOST_AUTO_TEST_CASE(a_crashed_cart_shows_changes_the_broker_never_saw) {
  // Node b changes carts node a has copies of; a's cart incarnations are
  // resident (and stale) until crashed: afterwards a's GETs must show the
  // journal's state.
  temp_dir data;
  auto args = sqlite_args(data, {"--debug.fault-injection=true",
                                 "--supervisor.max-restarts=1000",
                                 "--supervisor.restart-period=1s"});
  test_node a{args};
  test_node b{args};
  cart_model watched{"crash-watched"};
  cart_model written{"crash-written"};
  expect_get(a.port(), watched);
  watched.add("a-item", 1);
  expect_cart(
      call(a.port(), "POST", items_path(watched.id), add_body("a-item")),
      watched);
  expect_get(a.port(), watched);
  written.add("a-item", 1);
  expect_cart(
      call(a.port(), "POST", items_path(written.id), add_body("a-item")),
      written);
  for (auto* m : {&watched, &written}) {
    BOOST_TEST_CONTEXT("cart " << m->id) {
      m->add("b-item", 3);
      expect_cart(
          call(b.port(), "POST", items_path(m->id), add_body("b-item", 3)), *m);
      check_error(call(a.port(), "POST", crash_path(m->id)), 500, "crashed");
      // The restarted incarnation recovered b's change from the journal.
      expect_get(a.port(), *m);
      expect_get(a.port(), *m);
      m->add("a-again", 1);
      expect_cart(
          call(a.port(), "POST", items_path(m->id), add_body("a-again")), *m);
      expect_get(a.port(), *m);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// -- resident cap -------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(resident_cap)

BOOST_AUTO_TEST_CASE(every_get_is_right_with_a_cache_smaller_than_the_carts) {
  // 8 copies for 40 carts: almost every request evicts a copy, often one
  // whose cart is watched (its later pushes are then ignored) and later
  // watched again. Each change is read back at once and again after the
  // other carts had their turn, on one connection and on fresh ones.
  temp_dir data;
  test_node a{sqlite_args(data, {"--http.cart-cache=8"})};
  constexpr int carts = 40;
  std::vector<cart_model> models;
  for (int i = 0; i < carts; ++i)
    models.emplace_back("small-cache-" + std::to_string(i));
  http_connection conn{a.port()};
  for (int round = 0; round < 3; ++round) {
    for (auto& m : models) {
      BOOST_TEST_CONTEXT("round " << round << ", cart " << m.id) {
        expect_cart(conn.exchange("GET", cart_path(m.id)), m);
        auto item = "item-" + std::to_string(round);
        m.add(item, round + 1);
        auto res =
            conn.exchange("POST", items_path(m.id), add_body(item, round + 1));
        expect_cart(res, m);
        expect_cart(conn.exchange("GET", cart_path(m.id)), m);
        expect_cart(call(a.port(), "GET", cart_path(m.id)), m);
      }
    }
    for (auto& m : models)
      BOOST_TEST_CONTEXT("after round " << round << ", cart " << m.id) {
        expect_cart(conn.exchange("GET", cart_path(m.id)), m);
      }
  }
}

BOOST_AUTO_TEST_CASE(every_get_shows_the_latest_state_under_a_resident_cap) {
  // 4 resident carts over 4 shards: one per shard. Only activations evict
  // (the least recently resolved carts of the shard), and a cart used within
  // the last second refuses: so each round starts past that second, and
  // before each change a never-used cart is activated, evicting carts the
  // broker watches (and whose copies it must then drop).
  temp_dir data;
  auto args = sqlite_args(data, {"--carts.max-resident=4"});
  test_node a{args};
  constexpr int carts = 24;
  std::vector<cart_model> models;
  for (int i = 0; i < carts; ++i)
    models.emplace_back("cap-" + std::to_string(i));
  auto get_all = [&](const std::string& round) {
    http_connection conn{a.port()};
    for (auto& m : models) {
      BOOST_TEST_CONTEXT(round << ", cart " << m.id) {
        auto res = conn.exchange("GET", cart_path(m.id));
        check_framing(res);
        expect_cart(res, m);
      }
    }
  };
  auto activate_fillers = [&](const std::string& prefix, int n,
                              http_connection& conn) {
    for (int i = 0; i < n; ++i) {
      auto res = conn.exchange("GET", cart_path(prefix + std::to_string(i)));
      BOOST_TEST(res.result_int() == 200u, res.body());
    }
  };
  get_all("first GETs");
  get_all("second GETs");
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(1100ms);
    http_connection conn{a.port()};
    for (int i = 0; i < carts; ++i) {
      auto& m = models[i];
      auto item = "r" + std::to_string(round);
      activate_fillers("cap-f" + std::to_string(round) + "-" +
                           std::to_string(i) + "-",
                       1, conn);
      http_response res;
      if (round == 2) {
        m.remove("r0");
        res = conn.exchange("DELETE", item_path(m.id, "r0"));
      } else if (i % 2 == 0) {
        m.add(item, i + 1);
        res = conn.exchange("POST", items_path(m.id), add_body(item, i + 1));
      } else {
        m.set(item, i + 2);
        res = conn.exchange("PUT", item_path(m.id, item), set_body(i + 2));
      }
      BOOST_TEST_CONTEXT("round " << round << ", cart " << m.id) {
        check_framing(res);
        expect_cart(res, m);
        // The changed cart, and another one that may have been evicted.
        expect_cart(conn.exchange("GET", cart_path(m.id)), m);
        auto& other = models[(i * 7 + 3) % carts];
        expect_cart(conn.exchange("GET", cart_path(other.id)), other);
      }
    }
    get_all("round " + std::to_string(round) + ", after the changes");
  }
  // Changes the broker never saw: node b writes every cart once a's
  // incarnations were idle past a second; then a activates other carts,
  // which evicts them. Every GET on a must then show b's change.
  std::this_thread::sleep_for(1100ms);
  {
    test_node b{sqlite_args(data)};
    http_connection conn{b.port()};
    for (auto& m : models) {
      BOOST_TEST_CONTEXT("node b, cart " << m.id) {
        m.add("b-item", 1);
        expect_cart(conn.exchange("POST", items_path(m.id), add_body("b-item")),
                    m);
      }
    }
    stop_gracefully(b);
  }
  {
    http_connection conn{a.port()};
    activate_fillers("cap-oob-", carts, conn);
  }
  auto deadline = steady_clock::now() + 10s;
  for (auto& m : models) {
    BOOST_TEST_CONTEXT("node a, after eviction, cart " << m.id) {
      auto res = poll_get(a.port(), cart_path(m.id), deadline, [](auto& res) {
        return quantity_of(cart_of(res), "b-item") == 1;
      });
      expect_cart(res, m);
    }
  }
  // And a continues from there.
  http_connection conn{a.port()};
  for (auto& m : models) {
    BOOST_TEST_CONTEXT("node a, last change, cart " << m.id) {
      m.add("a-last", 1);
      expect_cart(conn.exchange("POST", items_path(m.id), add_body("a-last")),
                  m);
      expect_cart(conn.exchange("GET", cart_path(m.id)), m);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// -- changes that time out and commit later -----------------------------------

BOOST_AUTO_TEST_SUITE(late_commits)

namespace {

/// A small request timeout (also how long a cart waits for the journal),
/// and enough restarts that a cart whose recovery times out while the
/// journal is locked is never given up.
std::vector<std::string> late_commit_args(const temp_dir& data) {
  return sqlite_args(data, {"--http.request-timeout=500ms",
                            "--supervisor.max-restarts=1000",
                            "--supervisor.restart-period=1s"});
}

/// What a cart settled at on node `port` after the journal was unlocked:
/// polls until `item` shows (the commit was only delayed: SQLite's busy
/// timeout outlasts the lock), or a generous deadline passed.
http_response settled(uint16_t port, const std::string& cart,
                      const std::string& item,
                      steady_clock::time_point deadline) {
  return poll_get(port, cart_path(cart), deadline, [&](auto& res) {
    return quantity_of(cart_of(res), item) > 0;
  });
}

/// Restarts on the same journal and checks that a fresh node shows exactly
/// what `node` showed for each cart.
void check_fresh_node_agrees(test_node& node, const temp_dir& data,
                             const std::map<std::string, std::string>& shown) {
  stop_gracefully(node);
  test_node fresh{late_commit_args(data)};
  for (auto& [cart, body] : shown) {
    BOOST_TEST_CONTEXT("cart " << cart << " on a fresh node") {
      auto res = call(fresh.port(), "GET", cart_path(cart));
      BOOST_TEST(res.result_int() == 200u);
      BOOST_TEST(res.body() == body, "the old node showed " << body);
    }
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(
    a_change_answered_503_but_committed_later_becomes_visible) {
  temp_dir data;
  test_node node{late_commit_args(data)};
  auto port = node.port();
  cart_model m{"late-one"};
  m.add("apple", 1);
  expect_cart(call(port, "POST", items_path(m.id), add_body("apple")), m);
  auto before = call(port, "GET", cart_path(m.id));
  expect_cart(before, m);
  expect_get(port, m);
  {
    journal_write_lock lock{data.path() + "/cartd.db"};
    BOOST_REQUIRE_MESSAGE(lock.error().empty(), lock.error());
    // The journal cannot commit: the change's outcome is unknown.
    std::optional<http_response> change;
    std::string change_error;
    std::thread t{[&] {
      try {
        change = http_call(port, "POST", items_path(m.id), add_body("pear", 2));
      } catch (const std::exception& ex) {
        change_error = ex.what();
      }
    }};
    // Nothing is committed while the lock is held: a GET shows the old state
    // (or cannot be answered), while the change waits for the journal and
    // after it was answered.
    auto check_read = [&](int i) {
      auto during = http_call(port, "GET", cart_path(m.id));
      BOOST_TEST_CONTEXT("GET #"
                         << i << " while locked: " << during.result_int() << " "
                         << during.body()) {
        BOOST_TEST(
            (during.result_int() == 200u || during.result_int() == 503u));
        if (during.result_int() == 200u)
          BOOST_TEST(during.body() == before.body());
      }
    };
    std::this_thread::sleep_for(100ms);
    for (int i = 0; i < 4; ++i) {
      check_read(i);
      std::this_thread::sleep_for(30ms);
    }
    t.join();
    BOOST_REQUIRE_MESSAGE(change, change_error);
    check_unknown_outcome(*change);
    for (int i = 4; i < 6; ++i)
      check_read(i);
    BOOST_TEST(lock.release() == "");
  }
  // The commit only waited for the lock (SQLite's busy timeout outlasts
  // it): the change is stored after all and must show.
  m.add("pear", 2);
  auto res = settled(port, m.id, "pear", steady_clock::now() + 5s);
  expect_cart(res, m);
  auto again = call(port, "GET", cart_path(m.id));
  BOOST_TEST(again.body() == res.body());
  // Changes continue from there.
  m.add("fig", 1);
  expect_cart(call(port, "POST", items_path(m.id), add_body("fig")), m);
  auto last = call(port, "GET", cart_path(m.id));
  expect_cart(last, m);
  check_fresh_node_agrees(node, data, {{m.id, last.body()}});
}

BOOST_AUTO_TEST_CASE(changes_of_two_carts_answered_503_agree_with_the_journal) {
  // Cart 1's change holds the journal (waiting for the lock); cart 2's
  // change queues behind it. Both are answered 503; cart 2's incarnation
  // gives up and is restarted while its change is still queued. Whatever
  // GET shows once the lock is gone must be what the journal holds.
  temp_dir data;
  test_node node{late_commit_args(data)};
  auto port = node.port();
  std::vector<cart_model> models{cart_model{"late-first"},
                                 cart_model{"late-second"}};
  for (auto& m : models) {
    m.add("apple", 1);
    expect_cart(call(port, "POST", items_path(m.id), add_body("apple")), m);
    expect_get(port, m);
  }
  {
    journal_write_lock lock{data.path() + "/cartd.db"};
    BOOST_REQUIRE_MESSAGE(lock.error().empty(), lock.error());
    std::optional<http_response> first;
    std::string first_error;
    std::thread t{[&] {
      try {
        first =
            http_call(port, "POST", items_path(models[0].id), add_body("pear"));
      } catch (const std::exception& ex) {
        first_error = ex.what();
      }
    }};
    // The first change is being committed (and waits) by now.
    std::this_thread::sleep_for(150ms);
    auto second =
        call(port, "POST", items_path(models[1].id), add_body("pear"));
    t.join();
    BOOST_REQUIRE_MESSAGE(first, first_error);
    check_unknown_outcome(*first);
    check_unknown_outcome(second);
    // Past the second cart's wait for the journal, within its restarted
    // incarnation's wait for its recovery.
    std::this_thread::sleep_for(250ms);
    BOOST_TEST(lock.release() == "");
  }
  std::map<std::string, std::string> shown;
  auto deadline = steady_clock::now() + 5s;
  for (auto& m : models) {
    BOOST_TEST_CONTEXT("cart " << m.id) {
      auto res = settled(port, m.id, "pear", deadline);
      BOOST_TEST(res.result_int() == 200u, res.body());
      shown[m.id] = res.body();
      auto item = cart_of(res);
      BOOST_TEST(quantity_of(item, "pear") == 1,
                 "the change committed late is not shown: " << res.body());
    }
  }
  check_fresh_node_agrees(node, data, shown);
}

BOOST_AUTO_TEST_SUITE_END()

// -- concurrency --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(concurrency)

namespace {

/// What one client saw.
struct client_log {
  int changes = 0;
  int reads = 0;
  int crashes = 0;
  int cross_reads = 0;
  std::vector<std::string> failures;
  /// 5xx answers to changes (outcome unknown; the next read decides).
  std::vector<std::string> unknown;
};

std::string concurrent_cart(int client) {
  return "conc-" + std::to_string(client);
}

/// Changes its own cart at random (add, set, remove, clear, now and then a
/// crash or a pause past the idle timeout) and reads it back after each
/// change; in between reads other clients' carts, which must never be
/// behind what their owners had acknowledged before the read began.
void run_client(uint16_t port, int me, int clients, int ops,
                std::vector<std::atomic<uint64_t>>& acked, client_log& log) {
  std::minstd_rand rng{static_cast<unsigned>(4711 + me)};
  auto id = concurrent_cart(me);
  auto fail = [&](std::string what) {
    log.failures.push_back("op #" + std::to_string(log.changes) + ": " +
                           std::move(what));
  };
  std::optional<http_connection> conn;
  auto exchange = [&](std::string_view method, const std::string& target,
                      std::string_view body = {}) {
    if (!conn)
      conn.emplace(port);
    auto res = conn->exchange(method, target, body);
    if (!res.keep_alive())
      conn.reset();
    return res;
  };
  try {
    // The last acknowledged state of the own cart.
    std::string expected;
    uint64_t version = 0;
    std::map<std::string, int64_t> lines;
    bool unknown = false;
    std::vector<uint64_t> seen(clients, 0);
    auto read_own = [&](bool fresh_connection) {
      ++log.reads;
      auto res = fresh_connection ? http_call(port, "GET", cart_path(id))
                                  : exchange("GET", cart_path(id));
      auto body = cart_of(res);
      if (!body.is_object()) {
        fail("GET: " + std::to_string(res.result_int()) + " " + res.body());
        return;
      }
      auto v = body.value("version", uint64_t{0});
      if (unknown) {
        // A change answered 5xx may or may not have happened.
        if (v != version && v != version + 1)
          fail("GET after an unknown outcome at version " +
               std::to_string(version) + ": " + res.body());
        expected = res.body();
        version = v;
        lines.clear();
        for (auto& line : body["items"])
          lines[line.value("item", "")] = line.value("quantity", int64_t{0});
        unknown = false;
      } else if (res.body() != expected) {
        fail("GET shows " + res.body() + ", last acknowledged " + expected);
      }
      if (std::string{res[http::field::etag]} != etag(v))
        fail("GET has ETag " + std::string{res[http::field::etag]} + ": " +
             res.body());
    };
    {
      auto res = exchange("GET", cart_path(id));
      if (res.result_int() != 200u ||
          cart_of(res).value("version", uint64_t{1}) != 0)
        fail("first GET: " + res.body());
      expected = res.body();
    }
    std::uniform_int_distribution<int> pick_op{0, 15};
    std::uniform_int_distribution<int> pick_item{0, 4};
    std::uniform_int_distribution<int> pick_quantity{1, 3};
    std::uniform_int_distribution<int> pick_other{0, clients - 1};
    std::uniform_int_distribution<int> pick_pause{0, 3};
    for (int n = 0; n < ops; ++n) {
      auto op = pick_op(rng);
      auto item = "i" + std::to_string(pick_item(rng));
      if (op == 15) {
        ++log.crashes;
        auto res = exchange("POST", crash_path(id));
        if (res.result_int() != 500u)
          log.unknown.push_back("crash: " + std::to_string(res.result_int()) +
                                " " + res.body());
        read_own(n % 2 == 0);
        continue;
      }
      if (op >= 12) {
        // Someone else's cart: never behind its owner's acknowledgements.
        auto other = pick_other(rng);
        auto floor = acked[other].load();
        ++log.cross_reads;
        auto res = exchange("GET", cart_path(concurrent_cart(other)));
        auto body = cart_of(res);
        auto v = body.is_object() ? body.value("version", uint64_t{0}) : 0;
        if (!body.is_object())
          fail("GET of " + concurrent_cart(other) + ": " +
               std::to_string(res.result_int()) + " " + res.body());
        else if (v < floor || v < seen[other])
          fail("GET of " + concurrent_cart(other) + " shows version " +
               std::to_string(v) + ", its owner had acknowledged " +
               std::to_string(floor) + " and this client had seen " +
               std::to_string(seen[other]));
        seen[other] = std::max(seen[other], v);
        continue;
      }
      ++log.changes;
      http_response res;
      if (op < 6) {
        res = exchange("POST", items_path(id),
                       add_body(item, pick_quantity(rng)));
      } else if (op < 9) {
        res = exchange("PUT", item_path(id, item),
                       set_body(pick_quantity(rng) - 1));
      } else if (op < 11) {
        res = exchange("DELETE", item_path(id, item));
      } else {
        res = exchange("DELETE", cart_path(id));
      }
      auto status = res.result_int();
      if (status == 200u) {
        auto body = cart_of(res);
        auto v = body.is_object() ? body.value("version", uint64_t{0}) : 0;
        if (v != version + 1)
          fail("change acknowledged version " + std::to_string(v) + " after " +
               std::to_string(version) + ": " + res.body());
        expected = res.body();
        version = v;
        acked[me].store(v);
      } else if (status >= 500u) {
        log.unknown.push_back(std::to_string(status) + " " + res.body());
        unknown = true;
      } else if (status != 404u) {
        fail("change refused: " + std::to_string(status) + " " + res.body());
      }
      if (pick_pause(rng) == 0)
        // Past the idle timeout: the cart passivates.
        std::this_thread::sleep_for(std::chrono::milliseconds{60 + n % 40});
      read_own(n % 3 == 0);
    }
    // Check out, and read that back too.
    auto added = exchange("POST", items_path(id), add_body("last"));
    if (added.result_int() == 200u)
      acked[me].store(cart_of(added).value("version", uint64_t{0}));
    else
      fail("last add: " + std::to_string(added.result_int()) + " " +
           added.body());
    auto res = exchange("POST", cart_path(id) + "/checkout");
    auto body = cart_of(res);
    if (!body.is_object() || !body.value("checked_out", false))
      fail("checkout: " + std::to_string(res.result_int()) + " " + res.body());
    else {
      expected = res.body();
      acked[me].store(body.value("version", uint64_t{0}));
      unknown = false;
      read_own(true);
      read_own(false);
    }
  } catch (const std::exception& ex) {
    fail(std::string{"exception: "} + ex.what());
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(clients_always_read_their_last_acknowledged_write) {
  // Idle carts passivate after 50 ms, and clients crash their own carts now
  // and then: the copies come and go under the clients' reads.
  test_node node{{"--carts.idle-timeout=50ms", "--debug.fault-injection=true",
                  "--supervisor.max-restarts=1000000",
                  "--supervisor.restart-period=1s"}};
  constexpr int clients = 6;
  constexpr int ops = 60;
  std::vector<std::atomic<uint64_t>> acked(clients);
  for (auto& x : acked)
    x = 0;
  std::vector<client_log> logs(clients);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
      threads.emplace_back(run_client, node.port(), i, clients, ops,
                           std::ref(acked), std::ref(logs[i]));
    for (auto& t : threads)
      t.join();
  }
  int changes = 0;
  int reads = 0;
  int crashes = 0;
  int cross_reads = 0;
  for (int i = 0; i < clients; ++i) {
    auto& log = logs[i];
    changes += log.changes;
    reads += log.reads;
    crashes += log.crashes;
    cross_reads += log.cross_reads;
    BOOST_TEST_CONTEXT("client #" << i) {
      BOOST_TEST(log.failures.empty(),
                 log.failures.size()
                     << " failures, first: "
                     << (log.failures.empty() ? "" : log.failures.front()));
      if (!log.unknown.empty())
        BOOST_TEST_MESSAGE("client #" << i << ": " << log.unknown.size()
                                      << " unknown outcomes, first: "
                                      << log.unknown.front());
    }
  }
  BOOST_TEST_MESSAGE(changes << " changes, " << reads << " own reads, "
                             << cross_reads << " reads of other carts, "
                             << crashes << " crashes");
  // Every cart ends checked out with what its owner last saw.
  for (int i = 0; i < clients; ++i) {
    auto res = call(node.port(), "GET", cart_path(concurrent_cart(i)));
    auto body = cart_of(res);
    BOOST_TEST_CONTEXT("cart " << concurrent_cart(i) << ": " << res.body()) {
      BOOST_TEST(body.is_object());
      if (body.is_object()) {
        BOOST_TEST(body.value("checked_out", false));
        BOOST_TEST(body.value("version", uint64_t{0}) == acked[i].load());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
