#include "bindings/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/response_promise.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "bindings/http/http_date.hpp"
#include "open_sockets.hpp"
#include "sendmsg_counter.hpp"

namespace http = cartd::http;
namespace bh = boost::beast::http;
using cartd::test::accepted_sockets;
using namespace std::chrono_literals;

namespace {

// -- a helper actor that answers after a delay --------------------------------

// Answers (get_atom, ms) with ok_atom after ms milliseconds.
struct delayer_state {
  std::unordered_map<uint64_t, caf::response_promise> pending;
  uint64_t last_id = 0;
};

caf::behavior delayer(caf::stateful_actor<delayer_state>* self) {
  return {
      [self](caf::get_atom, uint32_t ms) {
        auto rp = self->make_response_promise();
        auto id = ++self->state.last_id;
        self->state.pending.emplace(id, rp);
        self->delayed_send(self, std::chrono::milliseconds{ms},
                           caf::ok_atom::value, id);
        return rp;
      },
      [self](caf::ok_atom, uint64_t id) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end())
          return;
        i->second.deliver(caf::ok_atom::value);
        self->state.pending.erase(i);
      },
  };
}

// -- the test handler ---------------------------------------------------------

// Routes:
//   /delay/<ms>  answers "delayed <ms>" after ms milliseconds (asks delayer)
//   /park        answers only when /release comes (on any connection)
//   /release     answers the parked request with "released", then itself
//   /big         answers 64 KiB
//   /huge        answers 8 MiB (more than a socket's buffers ever hold)
//   /throw       throws
//   /etag        answers "tagged" with ETag "7"
//   anything     echoes "<method> <path> <body>" as text/plain
class test_handler : public http::handler {
public:
  explicit test_handler(caf::actor delayer) : delayer_(std::move(delayer)) {
    // nop
  }

  std::string_view handle(caf::io::broker* self, http::request&& req,
                          http::responder reply) override {
    auto path = std::string{req.path()};
    ++dispatched;
    if (path == "/throw")
      throw std::runtime_error("boom");
    if (path.rfind("/delay/", 0) == 0) {
      auto ms = static_cast<uint32_t>(std::stoul(path.substr(7)));
      self->request(delayer_, std::chrono::seconds{30}, caf::get_atom::value,
                    ms)
          .then([reply, path](
                    caf::ok_atom) { reply(text("delayed " + path.substr(7))); },
                [reply](caf::error&) {
                  reply(http::error_response(500, "delayer_failed", "delayer"));
                });
      return "/delay/{ms}";
    }
    if (path == "/etag") {
      auto res = text("tagged");
      res.headers.emplace_back("ETag", "\"7\"");
      res.headers.emplace_back("X-Extra", "kept");
      reply(std::move(res));
      return "/etag";
    }
    if (path == "/big") {
      reply(text(std::string(64 * 1024, 'x')));
      return "/big";
    }
    if (path == "/huge") {
      reply(text(std::string(8 * 1024 * 1024, 'x')));
      return "/huge";
    }
    if (path == "/park") {
      parked_ = std::move(reply);
      ++parked;
      return "/park";
    }
    if (path == "/release") {
      if (parked_) {
        auto parked_reply = std::move(*parked_);
        parked_.reset();
        parked_reply(text("released"));
      }
      reply(text("release"));
      return "/release";
    }
    reply(text(std::string{req.msg.method_string()} + " " + path + " " +
               req.msg.body()));
    return "/{any}";
  }

  bool ready() const override { return ready_flag; }

  std::atomic<bool> ready_flag{true};
  std::atomic<int> dispatched{0};
  std::atomic<int> parked{0};

private:
  static http::response text(std::string body) {
    http::response res;
    res.content_type = "text/plain";
    res.body = std::move(body);
    return res;
  }

  caf::actor delayer_;
  std::optional<http::responder> parked_;
};

/// Records what the server tells its observers (called inside the broker,
/// read by the test thread).
class recording_observer : public http::exchange_observer {
public:
  struct record {
    bh::verb method;
    std::string route;
    std::string path;
    std::string request_id;
    unsigned status;
    size_t body_bytes;
    bool ordered; // started <= finished
  };

  void on_exchange(const http::exchange& ex) override {
    std::lock_guard<std::mutex> guard{mtx_};
    records_.push_back({ex.method, std::string{ex.route}, std::string{ex.path},
                        std::string{ex.request_id}, ex.status, ex.body_bytes,
                        ex.started <= ex.finished});
  }

  void on_connections(size_t open) override {
    std::lock_guard<std::mutex> guard{mtx_};
    connections_.push_back(open);
  }

  std::vector<record> records() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return records_;
  }

  std::vector<size_t> connections() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return connections_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<record> records_;
  std::vector<size_t> connections_;
};

// -- a blocking test client ---------------------------------------------------

struct reply {
  unsigned status = 0;
  std::string body;
  bh::response<bh::string_body> msg;

  std::string header(bh::field f) const { return std::string{msg[f]}; }
};

class client {
public:
  /// `rcvbuf`: the socket's receive buffer (0: the system's default); a
  /// small one makes the server's output pile up when the client does not
  /// read.
  explicit client(uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(fd_ >= 0);
    if (rcvbuf > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  ~client() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  bool connected() const { return connected_; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      BOOST_REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  /// Reads one response (to a HEAD request if `head`); nullopt on EOF,
  /// error or timeout (5 s).
  std::optional<reply> read(bool head = false) {
    bh::response_parser<bh::string_body> parser;
    parser.eager(true);
    if (head)
      parser.skip(true);
    for (;;) {
      if (!buf_.empty()) {
        boost::system::error_code ec;
        auto n = parser.put(boost::asio::buffer(buf_), ec);
        buf_.erase(0, n);
        if (ec && ec != bh::error::need_more)
          return std::nullopt;
        if (parser.is_done()) {
          reply result;
          result.msg = parser.release();
          result.status = result.msg.result_int();
          result.body = result.msg.body();
          return result;
        }
        if (!ec && n > 0)
          continue;
      }
      char tmp[4096];
      auto n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0)
        return std::nullopt;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  /// Whether the server closes the connection (EOF or reset) within 5 s
  /// without sending anything else.
  bool closed_by_peer() {
    if (!buf_.empty())
      return false;
    char tmp[256];
    auto n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n == 0)
      return true;
    if (n < 0)
      return errno == ECONNRESET;
    buf_.append(tmp, static_cast<size_t>(n));
    return false;
  }

  /// Whether bytes are available right now (non-blocking peek).
  bool has_data() {
    char tmp;
    return !buf_.empty() || ::recv(fd_, &tmp, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  /// Sends a GET and reads its response.
  std::optional<reply> get(const std::string& target) {
    send("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n");
    return read();
  }

private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

/// Whether `value` is the IMF-fixdate of a second from `before` to `after`
/// (the times around the exchange; a second either side for rounding).
bool date_between(const std::string& value,
                  std::chrono::system_clock::time_point before,
                  std::chrono::system_clock::time_point after) {
  auto first = std::chrono::system_clock::to_time_t(before) - 1;
  auto last = std::chrono::system_clock::to_time_t(after) + 1;
  for (auto t = first; t <= last; ++t)
    if (value == cartd::http::format_http_date(t))
      return true;
  return false;
}

std::string get_request(const std::string& target,
                        std::string_view extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + std::string{extra} +
         "\r\n";
}

/// Waits up to 5 s for `pred`.
template <class Predicate>
bool eventually(Predicate pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

/// Waits up to 5 s for `counter` to exceed `floor` and then stay the same
/// for 200 ms (e.g. the server stopped serving a client that does not read:
/// its output waits in CAF's buffer).
bool settles_above(const std::atomic<int>& counter, int floor) {
  int last = -1;
  for (int i = 0; i < 25; ++i) {
    auto now = counter.load();
    if (now > floor && now == last)
      return true;
    last = now;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

// -- fixture ------------------------------------------------------------------

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

struct server_fixture {
  /// The write path under test (server_config::direct_writes).
  bool direct_writes;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::actor delay_actor;
  std::shared_ptr<test_handler> handler;
  caf::actor server;
  uint16_t port = 0;

  explicit server_fixture(bool direct) : direct_writes(direct), sys(init(cfg)) {
    delay_actor = sys.spawn(delayer);
    handler = std::make_shared<test_handler>(delay_actor);
  }

  ~server_fixture() {
    if (server)
      caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(delay_actor, caf::exit_reason::user_shutdown);
  }

  http::server_config config() const {
    http::server_config scfg;
    scfg.direct_writes = direct_writes;
    scfg.host = "127.0.0.1";
    scfg.port = 0;
    scfg.idle_timeout = 300ms;
    scfg.drain_timeout = 300ms;
    scfg.max_body_size = 1024;
    return scfg;
  }

  void start() { start(config()); }

  void start(http::server_config scfg) {
    auto res = http::spawn_server(sys, std::move(scfg), handler, port);
    if (!res)
      BOOST_FAIL("spawn_server failed: " << sys.render(res.error()));
    server = *res;
    BOOST_REQUIRE(port != 0);
  }

  /// Waits for the server to terminate and returns its exit reason.
  caf::error await_server_down() {
    caf::scoped_actor self{sys};
    self->monitor(server);
    caf::error reason = caf::sec::request_timeout;
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                  caf::after(std::chrono::seconds{10}) >> [] {});
    server = nullptr;
    return reason;
  }
};

} // namespace

// Outside the anonymous namespace: the test cases deriving from them are
// defined in another file (server_test_cases.ipp).
namespace write_paths {

struct direct_writes_fixture : server_fixture {
  direct_writes_fixture() : server_fixture(true) {}
};

struct caf_writes_fixture : server_fixture {
  caf_writes_fixture() : server_fixture(false) {}
};

} // namespace write_paths

// Every case runs over both write paths (socket_writes.hpp).

BOOST_FIXTURE_TEST_SUITE(server_with_direct_writes,
                         write_paths::direct_writes_fixture)
#include "server_test_cases.ipp"
BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(server_with_caf_writes,
                         write_paths::caf_writes_fixture)
#include "server_test_cases.ipp"
BOOST_AUTO_TEST_SUITE_END()
