// The cart's shims in runtime/core/caf_shims.hpp: each test fails when the
// CAF 0.17.6 behavior its shim relies on changes.

#include "runtime/core/caf_shims.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

using namespace cartd;
using namespace std::chrono_literals;

namespace {

using which_atom = caf::atom_constant<caf::atom("which")>;
using relay_atom = caf::atom_constant<caf::atom("relay")>;

caf::behavior probe_behavior();

/// An actor whose handlers are shared by every probe (built once, capturing
/// nothing), like the cart's. Counts its live objects.
class probe : public caf::event_based_actor {
public:
  using super = caf::event_based_actor;
  using running = caf_shims::running_actor<probe>;

  static inline std::atomic<int> alive{0};

  explicit probe(caf::actor_config& cfg) : super(cfg) { ++alive; }

  ~probe() override { --alive; }

  resume_result resume(caf::execution_unit* ctx, size_t max) override {
    return running::resume(this, [&] { return super::resume(ctx, max); });
  }

  /// Written by the actor, read by others (see caf_shims::local_actor).
  std::atomic<int> hits{0};

protected:
  caf::behavior make_behavior() override {
    static const caf::behavior shared = probe_behavior();
    return shared;
  }
};

caf::actor_id running_id() {
  auto* self = probe::running::get();
  return self != nullptr ? self->id() : caf::invalid_actor_id;
}

caf::behavior probe_behavior() {
  return {
      // Which probe runs this handler.
      [](which_atom) -> caf::actor_id {
        if (auto* self = probe::running::get())
          ++self->hits;
        return running_id();
      },
      // Sends `which` to `other` (the test runs it at once, nested in this
      // resume), then says which probe runs this handler afterwards.
      [](relay_atom, const caf::actor& other) -> caf::actor_id {
        caf::anon_send(other, which_atom::value);
        return running_id();
      },
  };
}

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{deterministic(cfg)};
  caf::scoped_actor self{sys, true};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  ~fixture() { sched.run(); }

  /// The one message waiting for the test, as a T.
  template <class T>
  std::optional<T> reply() {
    std::optional<T> result;
    self->receive([&](T& x) { result = x; },
                  [&](caf::error& err) {
                    BOOST_ERROR("error reply: " << sys.render(err));
                  },
                  caf::after(0s) >> [] { BOOST_ERROR("no reply"); });
    return result;
  }

  /// Requests timeouts of the actor `id` the clock holds.
  size_t timeouts_of(caf::actor_id id) {
    return sched.clock().actor_lookup().count(id);
  }
};

// An actor that answers an int with itself, or with an error for 0.
caf::behavior echo(caf::event_based_actor*) {
  return {
      [](int x) -> caf::result<int> {
        if (x == 0)
          return caf::sec::invalid_argument;
        return x;
      },
  };
}

// Requests `x` from `echo` with a timeout and reports the outcome to
// `report`; drops the request's timeout in its handlers if `cancel`. Stays
// alive after (a terminating actor's timeouts all go).
caf::behavior requester(caf::event_based_actor* self, caf::actor echo, int x,
                        bool cancel, caf::actor report) {
  self->request(echo, 10s, x)
      .then(
          [=](int y) {
            if (cancel)
              caf_shims::cancel_request_timeout(self);
            self->send(report, y);
          },
          [=](caf::error& err) {
            if (cancel)
              caf_shims::cancel_request_timeout(self, err);
            self->send(report, err);
          });
  return {[](caf::get_atom) {}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(caf_shims_cart, fixture)

// -- shared behavior ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_shared_handler_runs_inside_its_actors_resume) {
  auto a = sys.spawn<probe>();
  auto b = sys.spawn<probe>();
  sched.run();
  self->send(a, which_atom::value);
  self->send(b, which_atom::value);
  self->send(a, which_atom::value);
  BOOST_CHECK_EQUAL(sched.run(), 3u);
  std::vector<caf::actor_id> found;
  for (int i = 0; i < 3; ++i)
    self->receive(
        [&](caf::actor_id id) {
          BOOST_CHECK_EQUAL(id, self->current_sender()->id());
          found.push_back(id);
        },
        caf::after(0s) >> [] { BOOST_ERROR("no reply"); });
  std::sort(found.begin(), found.end());
  BOOST_CHECK((found == std::vector<caf::actor_id>{a.id(), a.id(), b.id()}));
  // Restored once CAF is done with the actor.
  BOOST_CHECK(probe::running::get() == nullptr);
}

BOOST_AUTO_TEST_CASE(a_resume_nested_in_another_restores_the_outer_actor) {
  auto a = sys.spawn<probe>();
  auto b = sys.spawn<probe>();
  sched.run();
  self->send(a, relay_atom::value, caf::actor_cast<caf::actor>(b));
  sched.inline_next_enqueue();
  sched.run_once(); // a, and b inside it when a sends to b
  BOOST_CHECK(!sched.has_job());
  auto& a_object = caf_shims::local_actor<probe>(a);
  auto& b_object = caf_shims::local_actor<probe>(b);
  BOOST_CHECK_EQUAL(b_object.hits.load(), 1); // b ran and found itself
  BOOST_CHECK_EQUAL(a_object.hits.load(), 0);
  auto outer = reply<caf::actor_id>();
  BOOST_REQUIRE(outer);
  BOOST_CHECK_EQUAL(*outer, a.id()); // a found itself again after b
  BOOST_CHECK(probe::running::get() == nullptr);
}

BOOST_AUTO_TEST_CASE(shared_handlers_find_their_actor_on_every_worker) {
  // CAF's real work-stealing scheduler, four threads, 16 actors at once.
  caf::actor_system_config real_cfg;
  real_cfg.set("scheduler.max-threads", 4);
  caf::actor_system real{real_cfg};
  caf::scoped_actor client{real};
  std::vector<caf::actor> probes;
  for (int i = 0; i < 16; ++i)
    probes.push_back(real.spawn<probe>());
  constexpr int rounds = 200;
  for (int r = 0; r < rounds; ++r)
    for (auto& p : probes)
      client->send(p, which_atom::value);
  int replies = 0;
  int wrong = 0;
  client->receive_for(replies, rounds * 16)([&](caf::actor_id id) {
    auto& from = client->current_sender();
    if (!from || from->id() != id)
      ++wrong;
  });
  BOOST_CHECK_EQUAL(wrong, 0);
  for (auto& p : probes)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

// -- request timeouts ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(caf_keeps_an_answered_requests_timeout) {
  // Why the shim exists: if this fails, CAF drops the timeout by itself and
  // cancel_request_timeout can go.
  auto e = sys.spawn(echo);
  auto r = sys.spawn(requester, e, 7, false, caf::actor_cast<caf::actor>(self));
  sched.run();
  BOOST_CHECK_EQUAL(reply<int>().value_or(0), 7);
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 1u);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 0u);
}

BOOST_AUTO_TEST_CASE(
    cancel_request_timeout_drops_an_answered_requests_timeout) {
  auto e = sys.spawn(echo);
  auto r = sys.spawn(requester, e, 7, true, caf::actor_cast<caf::actor>(self));
  sched.run_once(); // e
  sched.run_once(); // r sends its request
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 1u);
  sched.run();
  BOOST_CHECK_EQUAL(reply<int>().value_or(0), 7);
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 0u);
  BOOST_CHECK(!sched.has_pending_timeout());
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(cancel_request_timeout_drops_it_after_an_error_reply) {
  auto e = sys.spawn(echo);
  auto r = sys.spawn(requester, e, 0, true, caf::actor_cast<caf::actor>(self));
  sched.run();
  std::optional<caf::error> err;
  self->receive([&](caf::error& x) { err = x; },
                caf::after(0s) >> [] { BOOST_ERROR("no reply"); });
  BOOST_REQUIRE(err);
  BOOST_CHECK(*err == caf::sec::invalid_argument);
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 0u);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_timed_out_request_leaves_nothing_to_cancel) {
  auto mute = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[=](int) { return self->make_response_promise<int>(); }};
  });
  auto r =
      sys.spawn(requester, mute, 7, true, caf::actor_cast<caf::actor>(self));
  sched.run();
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 1u);
  sched.advance_time(10s);
  sched.run();
  std::optional<caf::error> err;
  self->receive([&](caf::error& x) { err = x; },
                caf::after(0s) >> [] { BOOST_ERROR("no reply"); });
  BOOST_REQUIRE(err);
  BOOST_CHECK(*err == caf::sec::request_timeout);
  BOOST_CHECK_EQUAL(timeouts_of(r.id()), 0u);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(mute, caf::exit_reason::user_shutdown);
}

// -- local actor --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(local_actor_is_the_object_spawned_behind_the_handle) {
  auto a = sys.spawn<probe>();
  sched.run();
  auto& object = caf_shims::local_actor<probe>(a);
  BOOST_CHECK(&object ==
              dynamic_cast<probe*>(caf::actor_cast<caf::abstract_actor*>(a)));
  self->send(a, which_atom::value);
  sched.run();
  BOOST_CHECK_EQUAL(object.hits.load(), 1);
}

BOOST_AUTO_TEST_CASE(a_handle_keeps_a_terminated_actors_object_alive) {
  auto before = probe::alive.load();
  auto a = sys.spawn<probe>();
  sched.run();
  self->send(a, which_atom::value);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_CHECK(reply<caf::actor_id>());
  self->monitor(a);
  std::optional<caf::down_msg> down;
  self->receive([&](caf::down_msg& x) { down = x; },
                caf::after(0s) >> [] { BOOST_ERROR("the probe still runs"); });
  BOOST_REQUIRE(down);
  // Terminated, yet its object is there for whoever holds the handle.
  BOOST_CHECK_EQUAL(probe::alive.load(), before + 1);
  BOOST_CHECK_EQUAL(caf_shims::local_actor<probe>(a).hits.load(), 1);
  a = nullptr;
  BOOST_CHECK_EQUAL(probe::alive.load(), before);
}

BOOST_AUTO_TEST_SUITE_END()
