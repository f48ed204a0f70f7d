// The node's logs through the real binary: --log.format=json makes every
// line of stderr and stdout a JSON object; the access log (--log.access)
// has a line per request with its X-Request-Id, route template, status and
// bytes; and in a cluster the request id of a read or a change reaches the
// node that owns the cart, whose lines about the request carry it, as do the
// routers' lines on both nodes.

#define BOOST_TEST_MODULE e2e_logs
#include "tests/e2e/cluster.hpp"

#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

using namespace cartd::test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

/// Every line of `text` as JSON; a line that does not parse fails the test.
std::vector<json> json_lines(const std::string& text, const char* what) {
  std::vector<json> result;
  for (auto& line : lines_of(text)) {
    try {
      result.push_back(json::parse(line));
    } catch (const std::exception& e) {
      BOOST_ERROR(what << " line is not JSON (" << e.what() << "): " << line);
    }
  }
  return result;
}

/// The first line of `lines` for which `pred` holds, or null.
const json* find_line(const std::vector<json>& lines,
                      const std::function<bool(const json&)>& pred) {
  for (auto& x : lines)
    if (pred(x))
      return &x;
  return nullptr;
}

bool has_id(const json& x, const std::string& id) {
  return x.is_object() && x.value("request_id", "") == id;
}

/// Polls `text()` until a line satisfies `pred` or 10 s pass.
bool wait_for_line(const std::function<std::string()>& text,
                   const std::function<bool(const json&)>& pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& line : lines_of(text())) {
      auto x = json::parse(line, nullptr, false);
      if (!x.is_discarded() && pred(x))
        return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string header(const http_response& res, const char* name) {
  auto i = res.find(name);
  return i == res.end() ? std::string{} : std::string{i->value()};
}

} // namespace

BOOST_AUTO_TEST_CASE(json_logs_and_the_access_log_are_one_object_per_line) {
  test_node node{{"--log.format=json", "--log.access=true", "--log.level=debug",
                  "--cluster.node=solo"}};
  auto& proc = node.proc();
  auto added = http_call(node.port(), "POST", items_path("lg1"),
                         R"({"item":"tea","quantity":2})",
                         {{"X-Request-Id", "e2e-req-1"}});
  BOOST_REQUIRE_EQUAL(added.result_int(), 200u);
  BOOST_TEST(header(added, "X-Request-Id") == "e2e-req-1");
  auto got = http_call(node.port(), "GET", cart_path("lg1"));
  BOOST_REQUIRE_EQUAL(got.result_int(), 200u);
  auto generated = header(got, "X-Request-Id");
  BOOST_REQUIRE(!generated.empty());
  auto missing = http_call(node.port(), "GET", "/nowhere", {},
                           {{"X-Request-Id", "e2e-req-404"}});
  BOOST_TEST(missing.result_int() == 404u);
  // The access log is written every 100 ms; stop the node once it has all
  // three, so that both streams are complete.
  BOOST_REQUIRE(
      wait_for_line([&] { return proc.stdout_text(); },
                    [](const json& x) { return has_id(x, "e2e-req-404"); }));
  proc.kill(SIGTERM);
  auto status = proc.wait_exit(10s);
  BOOST_REQUIRE(status.has_value());
  BOOST_TEST(status->code == 0);

  auto err = json_lines(proc.stderr_text(), "stderr");
  auto out = json_lines(proc.stdout_text(), "stdout");
  BOOST_TEST(err.size() > 3u);
  for (auto& x : err) {
    BOOST_TEST(x["ts"].get<std::string>().back() == 'Z');
    BOOST_TEST(x["logger"] == "cartd");
    BOOST_TEST(x.contains("level"));
    BOOST_TEST(x.contains("msg"));
    BOOST_TEST(x["node"] == "solo");
  }
  // The cart's line about the change names the cart and the request.
  auto* cart_line = find_line(err, [](const json& x) {
    return has_id(x, "e2e-req-1") && x.value("cart", "") == "lg1";
  });
  BOOST_TEST(cart_line != nullptr, "no log line of the cart with the id");

  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  for (auto& x : out) {
    BOOST_TEST(x["logger"] == "access");
    BOOST_TEST(x["node"] == "solo");
    BOOST_TEST(x["duration_ms"].is_number());
  }
  auto* post = find_line(out, [](auto& x) { return has_id(x, "e2e-req-1"); });
  BOOST_REQUIRE(post != nullptr);
  BOOST_TEST((*post)["method"] == "POST");
  BOOST_TEST((*post)["route"] == "/carts/{cart}/items");
  BOOST_TEST((*post)["path"] == "/carts/lg1/items");
  BOOST_TEST((*post)["status"] == 200);
  BOOST_TEST((*post)["bytes"] == added.body().size());
  auto* get = find_line(out, [&](auto& x) { return has_id(x, generated); });
  BOOST_REQUIRE(get != nullptr);
  BOOST_TEST((*get)["method"] == "GET");
  BOOST_TEST((*get)["route"] == "/carts/{cart}");
  BOOST_TEST((*get)["bytes"] == got.body().size());
  auto* none = find_line(out, [](auto& x) { return has_id(x, "e2e-req-404"); });
  BOOST_REQUIRE(none != nullptr);
  BOOST_TEST((*none)["route"] == "");
  BOOST_TEST((*none)["status"] == 404);
}

BOOST_AUTO_TEST_CASE(the_access_log_goes_to_a_file_when_asked) {
  temp_dir dir;
  auto file = dir.path() + "/access.log";
  {
    test_node node{{"--log.access=true", "--log.access-file=" + file}};
    auto res = http_call(node.port(), "GET", cart_path("lg2"), {},
                         {{"X-Request-Id", "to-file"}});
    BOOST_TEST(res.result_int() == 200u);
    node.proc().kill(SIGTERM);
    BOOST_REQUIRE(node.proc().wait_exit(10s).has_value());
    BOOST_TEST(node.proc().stdout_text().empty());
  }
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  // Text format: "ts info access GET /carts/lg2 200 route=... request_id=..."
  BOOST_TEST(text.str().find(" info access GET /carts/lg2 200 "
                             "route=/carts/{cart} ") != std::string::npos,
             text.str());
  BOOST_TEST(text.str().find("request_id=to-file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_log_format_is_refused_at_start) {
  auto res = cartd_process::run(cartd_binary(), {"--log.format=xml"}, 10s);
  BOOST_REQUIRE(res.status.has_value());
  BOOST_TEST(res.status->code == 2);
  BOOST_TEST(res.err.find("log.format must be text or json") !=
                 std::string::npos,
             res.err);
  auto help = cartd_process::run(cartd_binary(), {"--help"}, 10s);
  BOOST_TEST(help.out.find("log.format") != std::string::npos);
  BOOST_TEST(help.out.find("log.access") != std::string::npos);
  BOOST_TEST(help.out.find("log.access-file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_request_id_reaches_the_owner_node_in_a_cluster) {
  test_cluster c{"logs", 2, {"--log.format=json", "--log.level=debug"}};
  // A cart node n1 owns, reached through n0: its first read is routed (n0's
  // router asks n1's) and read on n1.
  std::string cart;
  std::string first_read;
  for (int i = 0; i < 200 && cart.empty(); ++i) {
    auto id = "lg-owned-" + std::to_string(i);
    auto rid = "find-" + std::to_string(i);
    auto got =
        http_call(c.port(0), "GET", cart_path(id), {}, {{"X-Request-Id", rid}});
    if (answered_by(got) == "n1") {
      cart = id;
      first_read = rid;
    }
  }
  BOOST_REQUIRE(!cart.empty());
  auto& owner = c.node(1).proc();
  auto& entry_node = c.node(0).proc();
  auto about = [&cart](const std::string& rid) {
    return [&cart, rid](const json& x) {
      return has_id(x, rid) && x.value("cart", "") == cart;
    };
  };
  auto says = [](const std::string& part) {
    return [part](const json& x) {
      return x.value("msg", "").find(part) != std::string::npos;
    };
  };
  auto both = [](auto a, auto b) {
    return [a, b](const json& x) { return a(x) && b(x); };
  };
  // The routing, on both nodes, and the read on the owner name the request.
  BOOST_TEST(wait_for_line([&] { return entry_node.stderr_text(); },
                           both(about(first_read), says("asking its router"))),
             "no router line of n0 carries the read's request id");
  BOOST_TEST(wait_for_line([&] { return owner.stderr_text(); },
                           both(about(first_read), says("a peer asks"))),
             "no router line of n1 carries the read's request id");
  BOOST_TEST(wait_for_line([&] { return owner.stderr_text(); },
                           both(about(first_read), says("read requested"))),
             "no cart line of n1 carries the read's request id");
  // A later read (the cart's handle cached on n0) too.
  auto read = http_call(c.port(0), "GET", cart_path(cart), {},
                        {{"X-Request-Id", "cluster-read-9"}});
  BOOST_REQUIRE_EQUAL(read.result_int(), 200u);
  BOOST_TEST(answered_by(read) == "n1");
  BOOST_TEST(
      wait_for_line([&] { return owner.stderr_text(); },
                    both(about("cluster-read-9"), says("read requested"))),
      "no cart line of n1 carries the second read's request id");
  auto res = http_call(c.port(0), "POST", items_path(cart), R"({"item":"fig"})",
                       {{"X-Request-Id", "cluster-req-42"}});
  BOOST_REQUIRE_EQUAL(res.result_int(), 200u);
  BOOST_TEST(answered_by(res) == "n1");
  BOOST_TEST(header(res, "X-Request-Id") == "cluster-req-42");
  auto about_it = [&](const json& x) {
    return has_id(x, "cluster-req-42") && x.value("cart", "") == cart;
  };
  BOOST_TEST(wait_for_line([&] { return owner.stderr_text(); }, about_it),
             "no line of n1 carries the request id");
  // Parsed as JSON, from the owner, naming itself.
  auto lines = json_lines(owner.stderr_text(), "n1's stderr");
  auto* line = find_line(lines, about_it);
  BOOST_REQUIRE(line != nullptr);
  BOOST_TEST((*line)["node"] == "n1");
  BOOST_TEST((*line)["logger"] == "cartd");
  // The entry node did not run the cart: no cart line there.
  auto entry = json_lines(entry_node.stderr_text(), "n0's stderr");
  BOOST_TEST(find_line(entry, about_it) == nullptr);
}
