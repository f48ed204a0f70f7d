#include "bindings/grpc/grpc_bridge.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/response_promise.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cart/subsystem.hpp"

// The bridge between a fake directory and fake carts, on CAF's
// deterministic scheduler: nothing runs until run(); request timeouts fire
// only when the test advances the virtual clock.
//
//   test ──grpc_call──► bridge ──resolve──► directory (fake)
//     ▲                   │ ──get / mutation / watch──► cart (fake)
//     └──── sink ◄────────┘

using namespace cartd;
using namespace std::chrono_literals;

namespace {

/// Records what the bridge delivers.
struct recording_sink : grpc_call_sink {
  std::vector<cart_view> views;
  std::vector<cart_errc> errors;

  void on_view(const cart_view& view) override { views.push_back(view); }

  void on_error(cart_errc code, const std::string&) override {
    errors.push_back(code);
  }

  bool closed() const override { return !errors.empty(); }
};

/// Like a unary gRPC call: any answer ends it.
struct unary_sink : recording_sink {
  bool closed() const override { return !views.empty() || !errors.empty(); }
};

/// What the fake carts share with the test.
struct cart_script {
  /// While true, carts hold every request unanswered.
  bool stall = false;
  uint64_t version = 0;
  uint64_t incarnation = 1;
  int resolves = 0;
  cart_watcher_actor watcher;
  /// Every cart the directory spawned (stopped by the fixture: the actor
  /// system waits for them at its end).
  std::vector<caf::actor> carts;
};

cart_view view_of(const std::string& id, const cart_script& s) {
  cart_view v;
  v.id = id;
  v.version = s.version;
  v.incarnation = s.incarnation;
  return v;
}

cart_actor::behavior_type fake_cart(cart_actor::pointer self, std::string id,
                                    std::shared_ptr<cart_script> s) {
  // Held requests: never answered (a stalled journal).
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  return {
      [=](caf::get_atom, const std::string&) -> caf::result<cart_view> {
        if (s->stall) {
          held->push_back(self->make_response_promise());
          return caf::delegated<cart_view>{};
        }
        return view_of(id, *s);
      },
      [=](const cart_mutation&) -> caf::result<cart_view> {
        if (s->stall) {
          held->push_back(self->make_response_promise());
          return caf::delegated<cart_view>{};
        }
        ++s->version;
        return view_of(id, *s);
      },
      [=](crash_atom) -> caf::result<cart_view> { return view_of(id, *s); },
      [=](watch_atom, cart_watcher_actor w,
          const std::string&) -> caf::result<cart_view> {
        s->watcher = std::move(w);
        return view_of(id, *s);
      },
  };
}

cart_directory_actor::behavior_type
fake_directory(cart_directory_actor::pointer self,
               std::shared_ptr<cart_script> s) {
  return {
      [=](resolve_atom, const std::string& id) -> cart_actor {
        ++s->resolves;
        auto cart = self->spawn(fake_cart, id, s);
        s->carts.push_back(caf::actor_cast<caf::actor>(cart));
        return cart;
      },
  };
}

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  add_cartd_types(cfg);
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<cart_script> script = std::make_shared<cart_script>();
  cart_directory_actor directory;
  caf::actor bridge;

  fixture()
      : sys(deterministic(cfg)),
        sched(
            dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    directory = sys.spawn(fake_directory, script);
    grpc_bridge_settings settings;
    settings.request_timeout = 5s;
    bridge = spawn_grpc_bridge(sys, directory, settings);
    sched.run();
  }

  ~fixture() {
    script->stall = false;
    script->watcher = nullptr;
    caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
    for (auto& cart : script->carts)
      caf::anon_send_exit(cart, caf::exit_reason::user_shutdown);
    script->carts.clear();
    sched.run();
  }

  std::shared_ptr<recording_sink>
  call(grpc_call::kind what, std::chrono::steady_clock::time_point deadline =
                                 std::chrono::steady_clock::time_point::max()) {
    auto sink = std::make_shared<recording_sink>();
    grpc_call c;
    c.what = what;
    c.cart = "c1";
    c.deadline = deadline;
    c.mutation.kind = mutation_kind::add_item;
    c.mutation.item = "tea";
    c.mutation.quantity = 1;
    c.sink = sink;
    caf::anon_send(bridge, std::move(c));
    sched.run();
    return sink;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(grpc_bridge_tests, fixture)

BOOST_AUTO_TEST_CASE(a_read_and_a_change_are_answered_through_the_sink) {
  auto read = call(grpc_call::kind::get);
  BOOST_REQUIRE_EQUAL(read->views.size(), 1u);
  BOOST_TEST(read->views[0].version == 0u);
  auto change = call(grpc_call::kind::mutate);
  BOOST_REQUIRE_EQUAL(change->views.size(), 1u);
  BOOST_TEST(change->views[0].version == 1u);
  BOOST_TEST(change->errors.empty());
}

BOOST_AUTO_TEST_CASE(a_call_whose_deadline_passed_is_a_timeout_at_once) {
  auto sink =
      call(grpc_call::kind::mutate, std::chrono::steady_clock::now() - 1ms);
  BOOST_REQUIRE_EQUAL(sink->errors.size(), 1u);
  BOOST_TEST(std::string{to_string(sink->errors[0])} == "timeout");
  BOOST_TEST(script->resolves == 0);
  BOOST_TEST(script->version == 0u);
}

BOOST_AUTO_TEST_CASE(a_stalled_cart_ends_in_a_timeout_at_the_deadline) {
  script->stall = true;
  auto sink =
      call(grpc_call::kind::mutate, std::chrono::steady_clock::now() + 60s);
  BOOST_TEST(sink->views.empty());
  BOOST_TEST(sink->errors.empty());
  // Virtual time: the request to the local cart is bounded by the deadline
  // (about 60 s), not by the request timeout (5 s) nor infinite.
  sched.advance_time(30s);
  sched.run();
  BOOST_TEST(sink->errors.empty());
  sched.advance_time(31s);
  sched.run();
  BOOST_REQUIRE_EQUAL(sink->errors.size(), 1u);
  BOOST_TEST(std::string{to_string(sink->errors[0])} == "timeout");
}

BOOST_AUTO_TEST_CASE(calls_in_flight_are_unavailable_when_the_bridge_stops) {
  script->stall = true;
  auto sink = call(grpc_call::kind::get);
  BOOST_TEST(sink->errors.empty());
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_REQUIRE_EQUAL(sink->errors.size(), 1u);
  BOOST_TEST(std::string{to_string(sink->errors[0])} == "unavailable");
}

BOOST_AUTO_TEST_CASE(a_call_sent_to_a_bridge_that_ended_is_unavailable) {
  // The slot names the old bridge until the supervisor has started the
  // next: CAF drops what is sent to it, and the guard's last copy goes with
  // the message.
  caf::anon_send_exit(bridge, caf::exit_reason::kill);
  sched.run();
  auto sink = std::make_shared<unary_sink>();
  grpc_call c;
  c.what = grpc_call::kind::get;
  c.cart = "c1";
  c.sink = answer_if_dropped(sink);
  BOOST_TEST(c.sink.get() == sink.get());
  caf::anon_send(bridge, std::move(c));
  sched.run();
  BOOST_TEST(sink->views.empty());
  BOOST_REQUIRE_EQUAL(sink->errors.size(), 1u);
  BOOST_TEST(std::string{to_string(sink->errors[0])} == "unavailable");
}

BOOST_AUTO_TEST_CASE(a_guarded_call_the_bridge_answers_is_answered_once) {
  for (auto what : {grpc_call::kind::get, grpc_call::kind::mutate}) {
    auto sink = std::make_shared<unary_sink>();
    grpc_call c;
    c.what = what;
    c.cart = "c1";
    c.mutation.kind = mutation_kind::add_item;
    c.mutation.item = "tea";
    c.mutation.quantity = 1;
    c.sink = answer_if_dropped(sink);
    caf::anon_send(bridge, std::move(c));
    sched.run();
    BOOST_TEST(sink->views.size() == 1u);
    BOOST_TEST(sink->errors.empty());
  }
}

BOOST_AUTO_TEST_CASE(a_watch_gets_the_cart_then_every_change_once) {
  auto sink = call(grpc_call::kind::watch);
  BOOST_REQUIRE_EQUAL(sink->views.size(), 1u);
  BOOST_REQUIRE(script->watcher != nullptr);
  script->version = 1;
  caf::anon_send(script->watcher, changed_atom::value, view_of("c1", *script));
  // The same version again (a duplicate) is not sent twice.
  caf::anon_send(script->watcher, changed_atom::value, view_of("c1", *script));
  // A push of an older incarnation is not this watch's.
  auto stale = view_of("c1", *script);
  stale.incarnation = 99;
  stale.version = 7;
  caf::anon_send(script->watcher, changed_atom::value, stale);
  sched.run();
  BOOST_REQUIRE_EQUAL(sink->views.size(), 2u);
  BOOST_TEST(sink->views[1].version == 1u);
  // A second stream joins the running watch: the cart as it is now.
  auto second = call(grpc_call::kind::watch);
  BOOST_REQUIRE_EQUAL(second->views.size(), 1u);
  BOOST_TEST(second->views[0].version == 1u);
  BOOST_TEST(script->resolves == 1);
}

BOOST_AUTO_TEST_CASE(a_watched_cart_that_ends_is_watched_again) {
  auto sink = call(grpc_call::kind::watch);
  BOOST_REQUIRE(script->watcher != nullptr);
  auto watcher = script->watcher;
  // The incarnation passivates; the next one (same version) is watched, and
  // its first view, unchanged, is not sent again.
  caf::anon_send(watcher, gone_atom::value, std::string{"c1"}, uint64_t{1});
  script->incarnation = 2;
  sched.run();
  BOOST_TEST(script->resolves == 2);
  BOOST_TEST(sink->views.size() == 1u);
  script->version = 1;
  caf::anon_send(watcher, changed_atom::value, view_of("c1", *script));
  sched.run();
  BOOST_REQUIRE_EQUAL(sink->views.size(), 2u);
  BOOST_TEST(sink->views[1].incarnation == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
