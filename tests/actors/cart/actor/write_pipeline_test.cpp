// The cart's write path without an actor system: each row of the tables
// below feeds a write_pipeline a sequence of events (changes arriving, the
// journal's answers, passivation and fault injection) and lists what the
// pipeline asked its host to do, in order. Every row starts from a cart
// recovered at version 3 (one apple) whose last event carries tag 7; the
// cart's incarnation is 42 and at most 3 changes may queue.
#define BOOST_TEST_MODULE actors_cart_write_pipeline
#include <boost/test/unit_test.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "actors/cart/actor/write_pipeline.hpp"

using namespace cartd;

namespace {

constexpr uint64_t incarnation = 42;
constexpr uint64_t recovered_tag = 7;

/// The cart every row starts from.
cart recovered_cart() {
  cart result;
  result.lines["apple"] = 1;
  result.version = 3;
  return result;
}

/// Thrown by the host to carry out a fault injection (the cart throws).
struct injected_fault {};

std::string describe(const cart_event& ev) {
  struct visitor {
    std::string operator()(const item_added& x) const { return "+" + x.item; }
    std::string operator()(const item_quantity_set& x) const {
      return "=" + x.item;
    }
    std::string operator()(const item_removed& x) const { return "-" + x.item; }
    std::string operator()(const cart_cleared&) const { return "clear"; }
    std::string operator()(const cart_checked_out&) const { return "checkout"; }
  };
  return std::visit(visitor{}, ev);
}

/// A request is its number: "#1" is the first change of a row.
using promise = int;

/// Records what the pipeline asks for, like the cart actor would do it.
struct test_host {
  std::vector<std::string> actions;
  std::optional<write_queues<promise>> queued;
  cart_limits cart_limits_;
  /// The keys (empty: none) and versions of the writes in flight, oldest
  /// first: what the cart's response handlers capture.
  std::deque<std::pair<std::string, uint64_t>> sent;
  /// Idempotency-Key -> version of the stored reply.
  std::map<std::string, uint64_t> replies;
  bool stopped = false;

  void log(std::string line) { actions.push_back(std::move(line)); }

  // -- the Host of write_pipeline ---------------------------------------------

  write_queues<promise>& queues() {
    if (!queued)
      queued.emplace();
    return *queued;
  }

  write_queues<promise>* queues_if_any() { return queued ? &*queued : nullptr; }

  uint64_t incarnation() const { return ::incarnation; }

  const cart_limits& limits() const { return cart_limits_; }

  size_t max_pending() const { return 3; }

  bool replay(write_request& req, promise& p) {
    auto i = replies.find(req.idempotency_key);
    if (i == replies.end())
      return false;
    log("replay #" + std::to_string(p) + " v" + std::to_string(i->second));
    return true;
  }

  void send_append(const append_plan& plan, write_request& req) {
    std::ostringstream out;
    out << "send seq=" << plan.expected_seq << " expect=" << plan.expected_tag
        << " tag=" << plan.tag;
    for (auto& ev : plan.events)
      out << ' ' << describe(ev);
    if (req.keyed())
      out << " key=" << req.idempotency_key;
    log(out.str());
    sent.emplace_back(std::move(req.idempotency_key), plan.next.version);
  }

  void stored(promise& p, const cart& state) {
    log("stored #" + std::to_string(p) + " v" + std::to_string(state.version));
  }

  void fail(promise& p, cart_errc code, std::string detail) {
    auto line = "fail #" + std::to_string(p) + " " + to_string(code);
    if (!detail.empty())
      line += " (" + detail + ")";
    log(std::move(line));
  }

  void crash(promise&& p) {
    log("crash #" + std::to_string(p));
    throw injected_fault{};
  }

  void stop(cart_errc code, std::string detail) {
    auto line = std::string{"stop "} + to_string(code);
    if (!detail.empty())
      line += " (" + detail + ")";
    log(std::move(line));
    stopped = true;
  }

  void passivate() { log("passivate"); }
};

/// A host and its pipeline, driven by the events of a row.
struct driver {
  test_host host;
  write_pipeline<promise> pipeline;
  int next_request = 1;

  driver() { pipeline.recovered(recovered_cart(), recovered_tag); }

  /// Runs `event` the way the cart runs a handler: a fault injection
  /// unwinds it, and the cart's exception handler tells the pipeline.
  void run(const std::function<void(driver&)>& event) {
    try {
      event(*this);
    } catch (injected_fault&) {
      crash();
    }
    // Nothing waits unless something is in flight (what idle() relies on).
    auto* q = host.queues_if_any();
    if (q != nullptr && !q->pending.empty())
      BOOST_CHECK(!pipeline.idle(host));
    if (q != nullptr && q->in_flight.empty())
      BOOST_CHECK(q->stall == write_stall::none);
  }

  void crash() {
    host.log("crashed");
    host.sent.clear();
    pipeline.crashed(host);
  }
};

using event = std::function<void(driver&)>;

// -- events -------------------------------------------------------------------

write_request plain(cart_command cmd) {
  write_request result;
  result.command = std::move(cmd);
  return result;
}

cart_command add(std::string item) {
  return add_item{std::move(item), 1};
}

cart_command drop(std::string item) {
  return remove_item{std::move(item)};
}

cart_command checkout_cmd() {
  return checkout{};
}

/// A change arrives.
event change(cart_command cmd) {
  return [cmd = std::move(cmd)](driver& d) {
    d.pipeline.admit(plain(cmd), d.next_request++, d.host);
  };
}

/// A change with If-Match: `version` arrives.
event change_at(cart_command cmd, uint64_t version) {
  return [cmd = std::move(cmd), version](driver& d) {
    auto req = plain(cmd);
    req.expected_version = version;
    d.pipeline.admit(std::move(req), d.next_request++, d.host);
  };
}

/// A change with Idempotency-Key `key` arrives.
event keyed(cart_command cmd, std::string key) {
  return [cmd = std::move(cmd), key = std::move(key)](driver& d) {
    auto req = plain(cmd);
    req.idempotency_key = key;
    req.request_digest = "digest";
    d.pipeline.admit(std::move(req), d.next_request++, d.host);
  };
}

/// A fault injection arrives.
event crash_request() {
  return
      [](driver& d) { d.pipeline.crash_requested(d.next_request++, d.host); };
}

/// The journal stored the oldest write in flight.
event ack() {
  return [](driver& d) {
    BOOST_REQUIRE_MESSAGE(!d.host.sent.empty(), "nothing in flight");
    auto [key, version] = d.host.sent.front();
    d.host.sent.pop_front();
    if (!key.empty())
      d.host.replies[key] = version;
    d.pipeline.stored(d.host);
  };
}

/// The oldest write in flight failed.
event fail(write_failure why) {
  return [why](driver& d) {
    BOOST_REQUIRE_MESSAGE(!d.host.sent.empty(), "nothing in flight");
    d.host.sent.pop_front();
    const char* names[] = {"unavailable", "conflict", "unknown"};
    d.pipeline.failed(why, names[static_cast<int>(why)], d.host);
  };
}

/// The shard asks the cart to passivate.
event passivate() {
  return [](driver& d) { d.pipeline.passivate(d.host); };
}

/// The cart crashes for another reason than a fault injection.
event exception() {
  return [](driver& d) { d.crash(); };
}

/// Logs the pipeline's state.
event look() {
  return [](driver& d) {
    auto& p = d.pipeline;
    auto* q = d.host.queues_if_any();
    std::ostringstream out;
    out << "state v" << p.state().version << " flight=" << p.in_flight(d.host)
        << " queued=" << (q != nullptr ? q->pending.size() : 0);
    if (p.behind_failure(d.host))
      out << " stall=failed";
    else if (p.stalled(d.host))
      out << " stall=refused";
    if (q != nullptr && q->passivating)
      out << " passivating";
    d.host.log(out.str());
  };
}

// -- rows ---------------------------------------------------------------------

struct row {
  std::string name;
  std::vector<event> events;
  std::vector<std::string> actions;
};

std::string lines(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs)
    result += "\n  " + x;
  return result;
}

void check(const row& r) {
  BOOST_TEST_CONTEXT(r.name) {
    driver d;
    for (auto& ev : r.events)
      d.run(ev);
    if (d.host.actions != r.actions)
      BOOST_ERROR("expected:" << lines(r.actions)
                              << "\ngot:" << lines(d.host.actions));
  }
}

const std::string may_have_been_applied =
    "the change may have been applied; retry with the same Idempotency-Key "
    "to find out";

} // namespace

// -- idle ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_idle_cart_sends_a_change_and_answers_once_stored) {
  for (auto& r : std::vector<row>{
           {"a change is sent, extending the recovered event, and answered "
            "once stored",
            {look(), change(add("a")), look(), ack(), look()},
            {"state v3 flight=0 queued=0", "send seq=3 expect=7 tag=42 +a",
             "state v3 flight=1 queued=0", "stored #1 v4",
             "state v4 flight=0 queued=0"}},
           {"the next change extends the cart's own event",
            {change(add("a")), ack(), change(add("b")), ack()},
            {"send seq=3 expect=7 tag=42 +a", "stored #1 v4",
             "send seq=4 expect=42 tag=42 +b", "stored #2 v5"}},
           {"a refused change is answered at once and sends nothing",
            {change(drop("pear")), look()},
            {"fail #1 item_not_found", "state v3 flight=0 queued=0"}},
           {"a stale expected version is refused",
            {change_at(add("a"), 2), change_at(add("b"), 3), ack()},
            {"fail #1 version_mismatch (cart is at version 3)",
             "send seq=3 expect=7 tag=42 +b", "stored #2 v4"}},
       })
    check(r);
}

// -- in flight ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(changes_behind_writes_in_flight_are_sent_at_once) {
  for (auto& r : std::vector<row>{
           {"each extends the one before it, with the cart's own tag",
            {change(add("a")), change(add("b")), change(add("c")), look()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "send seq=5 expect=42 tag=42 +c", "state v3 flight=3 queued=0"}},
           {"acknowledgements are answered in order, each with its state",
            {change(add("a")), change(add("b")), change(add("c")), ack(),
             look(), ack(), ack(), look()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "send seq=5 expect=42 tag=42 +c", "stored #1 v4",
             "state v4 flight=2 queued=0", "stored #2 v5", "stored #3 v6",
             "state v6 flight=0 queued=0"}},
           {"an If-Match change is decided against the state in flight",
            {change(add("a")), change_at(add("b"), 4), ack(), ack()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "stored #1 v4", "stored #2 v5"}},
       })
    check(r);
}

BOOST_AUTO_TEST_CASE(at_most_max_writes_in_flight_are_sent_the_rest_queue) {
  row r{"32 in flight, the 33rd waits for the oldest acknowledgement", {}, {}};
  auto n = max_writes_in_flight;
  for (size_t i = 1; i <= n + 1; ++i) {
    r.events.push_back(change(add("x" + std::to_string(i))));
    if (i <= n)
      r.actions.push_back("send seq=" + std::to_string(2 + i) +
                          " expect=" + (i == 1 ? "7" : "42") + " tag=42 +x" +
                          std::to_string(i));
  }
  r.events.push_back(look());
  r.actions.push_back("state v3 flight=32 queued=1");
  r.events.push_back(ack());
  r.actions.push_back("stored #1 v4");
  r.actions.push_back("send seq=35 expect=42 tag=42 +x33");
  r.events.push_back(look());
  r.actions.push_back("state v4 flight=32 queued=0");
  check(r);
}

// -- queued -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(changes_queue_in_order_of_arrival_up_to_max_pending) {
  for (auto& r : std::vector<row>{
           {"a change behind queued ones queues too, though it could go",
            {change(add("a")), keyed(add("b"), "k"), change(add("c")), look(),
             ack(), look(), ack()},
            {"send seq=3 expect=7 tag=42 +a", "state v3 flight=1 queued=2",
             "stored #1 v4", "send seq=4 expect=42 tag=42 +b key=k",
             "state v4 flight=1 queued=1", "stored #2 v5",
             "send seq=5 expect=42 tag=42 +c"}},
           {"queue full: the next change is overloaded, the queue goes on",
            {keyed(add("a"), "k"), change(add("b")), change(add("c")),
             change(add("d")), change(add("e")), look(), ack(), look()},
            {"send seq=3 expect=7 tag=42 +a key=k",
             "fail #5 overloaded (too many changes queued for this cart)",
             "state v3 flight=1 queued=3", "stored #1 v4",
             "send seq=4 expect=42 tag=42 +b", "send seq=5 expect=42 tag=42 +c",
             "send seq=6 expect=42 tag=42 +d", "state v4 flight=3 queued=0"}},
       })
    check(r);
}

// -- keyed (idempotent) changes -----------------------------------------------

BOOST_AUTO_TEST_CASE(a_keyed_change_runs_alone) {
  for (auto& r : std::vector<row>{
           {"nothing is sent behind it",
            {keyed(add("a"), "k"), change(add("b")), look(), ack()},
            {"send seq=3 expect=7 tag=42 +a key=k",
             "state v3 flight=1 queued=1", "stored #1 v4",
             "send seq=4 expect=42 tag=42 +b"}},
           {"it waits for the writes in flight before it",
            {change(add("a")), change(add("b")), keyed(add("c"), "k"), ack(),
             look(), ack()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "stored #1 v4", "state v4 flight=1 queued=1", "stored #2 v5",
             "send seq=5 expect=42 tag=42 +c key=k"}},
           {"a retry queued behind its original finds the stored reply",
            {keyed(add("a"), "k"), keyed(add("a"), "k"), ack(), look()},
            {"send seq=3 expect=7 tag=42 +a key=k", "stored #1 v4",
             "replay #2 v4", "state v4 flight=0 queued=0"}},
       })
    check(r);
}

// -- stalled after a refusal --------------------------------------------------

BOOST_AUTO_TEST_CASE(a_change_refused_against_a_state_in_flight_waits) {
  for (auto& r : std::vector<row>{
           {"the state in flight fails: the change is decided again and sent",
            {change(checkout_cmd()), change(add("b")), change(add("c")), look(),
             fail(write_failure::unavailable), look()},
            {"send seq=3 expect=7 tag=42 checkout",
             "state v3 flight=1 queued=2 stall=refused",
             "fail #1 storage_failure (unavailable)",
             "send seq=3 expect=7 tag=42 +b", "send seq=4 expect=42 tag=42 +c",
             "state v3 flight=2 queued=0"}},
           {"the state in flight is stored: the refusal stands",
            {change(checkout_cmd()), change(add("b")), ack()},
            {"send seq=3 expect=7 tag=42 checkout", "stored #1 v4",
             "fail #2 checked_out"}},
           {"a stale If-Match against the state in flight waits too",
            {change(add("a")), change_at(add("b"), 3), look(), ack()},
            {"send seq=3 expect=7 tag=42 +a",
             "state v3 flight=1 queued=1 stall=refused", "stored #1 v4",
             "fail #2 version_mismatch (cart is at version 4)"}},
           {"while stalled, nothing new is sent behind the writes in flight",
            {change(add("a")), change(checkout_cmd()), change(add("c")),
             change(add("d")), ack(), look(), fail(write_failure::unavailable)},
            {"send seq=3 expect=7 tag=42 +a",
             "send seq=4 expect=42 tag=42 checkout", "stored #1 v4",
             "state v4 flight=1 queued=2 stall=refused",
             "fail #2 storage_failure (unavailable)",
             "send seq=4 expect=42 tag=42 +c",
             "send seq=5 expect=42 tag=42 +d"}},
       })
    check(r);
}

// -- stalled after a failure --------------------------------------------------

BOOST_AUTO_TEST_CASE(after_a_failed_write_the_writes_behind_it_fail) {
  for (auto& r : std::vector<row>{
           {"unavailable: they come back failed, then the cart serves on from "
            "the stored state",
            {change(add("a")), change(add("b")), change(add("c")),
             fail(write_failure::unavailable), look(), change(add("d")),
             fail(write_failure::conflict), fail(write_failure::conflict),
             look(), ack()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "send seq=5 expect=42 tag=42 +c",
             "fail #1 storage_failure (unavailable)",
             "state v3 flight=2 queued=0 stall=failed",
             "fail #2 storage_failure (conflict)",
             "fail #3 storage_failure (conflict)",
             "send seq=3 expect=7 tag=42 +d", "state v3 flight=1 queued=0",
             "stored #4 v4"}},
           {"unavailable, alone: nothing stalls",
            {change(add("a")), fail(write_failure::unavailable), look(),
             change(add("b"))},
            {"send seq=3 expect=7 tag=42 +a",
             "fail #1 storage_failure (unavailable)",
             "state v3 flight=0 queued=0", "send seq=3 expect=7 tag=42 +b"}},
           {"unavailable, then one behind it has an unknown outcome: stop",
            {change(add("a")), change(add("b")), change(add("c")),
             fail(write_failure::unavailable), fail(write_failure::unknown)},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "send seq=5 expect=42 tag=42 +c",
             "fail #1 storage_failure (unavailable)",
             "fail #2 timeout (unknown)", "fail #3 timeout (unknown)",
             "stop timeout (unknown)"}},
           {"a conflict stops the cart: writes in flight fail with it, queued "
            "changes are unavailable",
            {change(add("a")), change(add("b")), keyed(add("c"), "k"),
             fail(write_failure::conflict)},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "fail #1 storage_failure (conflict)", "fail #2 storage_failure",
             "fail #3 unavailable", "stop storage_failure"}},
           {"an unknown outcome (no answer in time) stops the cart",
            {change(add("a")), change(add("b")), fail(write_failure::unknown)},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "fail #1 timeout (unknown)", "fail #2 timeout (unknown)",
             "stop timeout (unknown)"}},
       })
    check(r);
}

// -- passivation --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_cart_asked_to_passivate_quits_once_idle) {
  for (auto& r : std::vector<row>{
           {"idle: at once", {passivate()}, {"passivate"}},
           {"writing: once the writes in flight and the queue are done",
            {change(add("a")), keyed(add("b"), "k"), passivate(), look(), ack(),
             ack()},
            {"send seq=3 expect=7 tag=42 +a",
             "state v3 flight=1 queued=1 passivating", "stored #1 v4",
             "send seq=4 expect=42 tag=42 +b key=k", "stored #2 v5",
             "passivate"}},
           {"writing, one fails: once the writes behind it are back",
            {change(add("a")), change(add("b")), passivate(),
             fail(write_failure::unavailable), fail(write_failure::conflict)},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "fail #1 storage_failure (unavailable)",
             "fail #2 storage_failure (conflict)", "passivate"}},
       })
    check(r);
}

// -- fault injection ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_fault_injection_crashes_the_cart_in_its_turn) {
  for (auto& r : std::vector<row>{
           {"idle: at once", {crash_request()}, {"crash #1", "crashed"}},
           {"behind writes: once they are stored; changes behind it never run",
            {change(add("a")), change(add("b")), crash_request(),
             change(add("c")), look(), ack(), ack()},
            {"send seq=3 expect=7 tag=42 +a", "send seq=4 expect=42 tag=42 +b",
             "state v3 flight=2 queued=2", "stored #1 v4", "stored #2 v5",
             "crash #3", "crashed", "fail #4 unavailable (restarting)"}},
           {"queued beyond max_pending: a fault injection is not refused",
            {keyed(add("a"), "k"), change(add("b")), change(add("c")),
             change(add("d")), crash_request(), look()},
            {"send seq=3 expect=7 tag=42 +a key=k",
             "state v3 flight=1 queued=4"}},
           {"a crash with writes in flight answers them: they may be stored",
            {change(add("a")), keyed(add("b"), "k"), exception(), look()},
            {"send seq=3 expect=7 tag=42 +a", "crashed",
             "fail #2 unavailable (restarting)",
             "fail #1 crashed (" + may_have_been_applied + ")",
             "state v3 flight=0 queued=0"}},
       })
    check(r);
}
