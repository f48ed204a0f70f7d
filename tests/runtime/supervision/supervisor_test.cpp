#define BOOST_TEST_MODULE runtime_supervision
#include <boost/test/unit_test.hpp>

#include "runtime/supervision/supervisor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

// These tests run a real actor system (two scheduler threads) and observe the
// supervisors through events that children and start functions send to the
// test's scoped actor. They never assert on timing: they wait for events
// with a generous deadline.

namespace sup = cartd::supervision;
using namespace std::chrono_literals;

namespace {

// -- events -------------------------------------------------------------------

/// (started_atom, id, handle): a start function spawned `id`.
using started_atom = caf::atom_constant<caf::atom("started")>;
/// (stopped_atom, id): a worker got an exit_msg and quits.
using stopped_atom = caf::atom_constant<caf::atom("stopped")>;
/// (restarted_atom, id, handle): hooks.on_restarted.
using restarted_atom = caf::atom_constant<caf::atom("restarted")>;
/// (ended_atom, id, reason): hooks.on_stopped.
using ended_atom = caf::atom_constant<caf::atom("ended")>;
/// (gave_up_atom, id, reason): hooks.on_give_up.
using gave_up_atom = caf::atom_constant<caf::atom("gave_up")>;
/// (saw_atom, handle, handle): what a start function's children_view found.
using saw_atom = caf::atom_constant<caf::atom("saw")>;
/// A down_msg of a monitored actor (test-local event kind).
constexpr caf::atom_value down_event = caf::atom("down");

// -- messages to workers and hosts
// ----------------------------------------------

/// Makes a worker throw.
using crash_atom = caf::atom_constant<caf::atom("crash")>;
/// Makes a worker quit normally.
using finish_atom = caf::atom_constant<caf::atom("finish")>;
/// Asks a dynamic host for its number of dynamic children.
using count_atom = caf::atom_constant<caf::atom("count")>;

// -- test actors --------------------------------------------------------------

/// What a worker does on an exit_msg.
enum class exit_mode {
  /// Reports (stopped_atom, id) and quits with the exit reason.
  report_and_quit,
  /// Ignores it: only a kill stops the worker.
  ignore,
  /// Reports (stopped_atom, id) and quits with the exit reason once it gets
  /// finish_atom.
  report_and_wait,
};

caf::behavior worker(caf::event_based_actor* self, std::string id,
                     caf::actor observer, exit_mode mode) {
  // Keeps CAF from printing "*** unhandled exception" for expected crashes.
  self->set_exception_handler(
      [](caf::scheduled_actor*, std::exception_ptr&) -> caf::error {
        return caf::exit_reason::unhandled_exception;
      });
  self->set_exit_handler([=](caf::scheduled_actor*, caf::exit_msg& msg) {
    if (mode == exit_mode::ignore)
      return;
    self->send(observer, stopped_atom::value, id);
    if (mode == exit_mode::report_and_wait) {
      self->become([=](finish_atom) { self->quit(msg.reason); });
      return;
    }
    self->quit(msg.reason);
  });
  return {
      [=](crash_atom) { throw std::runtime_error("crash requested"); },
      [=](finish_atom) { self->quit(); },
  };
}

sup::start_fn start_worker(std::string id, caf::actor observer,
                           exit_mode mode = exit_mode::report_and_quit) {
  return [=](caf::event_based_actor* self, const sup::children_view&) {
    auto handle = self->spawn(worker, id, observer, mode);
    self->send(observer, started_atom::value, id, handle);
    return handle;
  };
}

sup::child_spec
worker_spec(std::string id, caf::actor observer,
            sup::restart_type restart = sup::restart_type::permanent,
            exit_mode mode = exit_mode::report_and_quit) {
  sup::child_spec result;
  result.id = id;
  result.start = start_worker(id, observer, mode);
  result.restart = restart;
  return result;
}

/// An actor that embeds a supervisor_core with dynamic children, like a cart
/// shard. Hooks report to `observer`.
struct dynamic_host_state {
  std::unique_ptr<sup::supervisor_core> core;
};

caf::behavior dynamic_host(caf::stateful_actor<dynamic_host_state>* self,
                           caf::actor observer,
                           std::vector<sup::child_spec> statics,
                           sup::dynamic_child_template tpl) {
  sup::dynamic_child_hooks hooks;
  hooks.on_stopped = [=](const std::string& id, const caf::error& reason) {
    self->send(observer, ended_atom::value, id, reason);
  };
  hooks.on_give_up = [=](const std::string& id, const caf::error& reason) {
    self->send(observer, gave_up_atom::value, id, reason);
  };
  hooks.on_restarted = [=](const std::string& id, const caf::actor& child) {
    self->send(observer, restarted_atom::value, id, child);
  };
  self->state.core = std::make_unique<sup::supervisor_core>(
      sup::supervisor_flags{}, std::move(statics), std::move(tpl),
      std::move(hooks));
  self->state.core->init(self);
  return {
      [=](caf::put_atom, const std::string& id) {
        return self->state.core->start_dynamic(id);
      },
      [=](caf::get_atom, const std::string& id) {
        return self->state.core->find_dynamic(id);
      },
      [=](count_atom) {
        return static_cast<uint64_t>(self->state.core->dynamic_count());
      },
      [=](caf::delete_atom) {
        self->state.core->shutdown(caf::exit_reason::user_shutdown);
      },
  };
}

sup::dynamic_child_template
worker_template(caf::actor observer,
                exit_mode mode = exit_mode::report_and_quit) {
  sup::dynamic_child_template result;
  result.start = [observer, mode](caf::event_based_actor* self,
                                  const std::string& id) {
    auto handle = self->spawn(worker, id, observer, mode);
    self->send(observer, started_atom::value, id, handle);
    return handle;
  };
  return result;
}

// -- fixture ------------------------------------------------------------------

struct event {
  caf::atom_value kind;
  std::string id;
  caf::actor handle;
  caf::error reason;
  caf::actor_addr source;
  /// Arrival order at the observer.
  size_t seq = 0;
};

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> self;
  caf::actor observer;
  std::deque<event> events;
  size_t next_seq = 0;
  /// Actors the test spawned; killed at the end (their children follow).
  std::vector<caf::actor> owned;

  fixture() {
    cfg.set("scheduler.max-threads", 2);
    sup::add_supervision_error_category(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    self = std::make_unique<caf::scoped_actor>(*sys);
    observer = caf::actor_cast<caf::actor>(*self);
  }

  ~fixture() {
    for (auto& x : owned)
      caf::anon_send_exit(x, caf::exit_reason::kill);
    owned.clear();
    observer = nullptr;
    self.reset();
    sys.reset();
  }

  // -- spawning ---------------------------------------------------------------

  caf::actor spawn_sup(sup::supervisor_flags flags,
                       std::vector<sup::child_spec> children) {
    auto result = sup::spawn_supervisor(*sys, flags, std::move(children));
    watch(result);
    owned.push_back(result);
    return result;
  }

  caf::actor spawn_host(std::vector<sup::child_spec> statics,
                        sup::dynamic_child_template tpl) {
    auto result =
        sys->spawn(dynamic_host, observer, std::move(statics), std::move(tpl));
    watch(result);
    owned.push_back(result);
    return result;
  }

  /// Monitors `x`; its down_msg becomes a `down_event`.
  void watch(const caf::actor& x) { (*self)->monitor(x); }

  // -- requests ---------------------------------------------------------------

  /// Asks `sup` (a supervisor or dynamic host) for its child `id`.
  caf::actor child(const caf::actor& supervisor, const std::string& id) {
    caf::actor result;
    caf::error err;
    (*self)
        ->request(supervisor, 5s, caf::get_atom::value, id)
        .receive([&](caf::actor& x) { result = std::move(x); },
                 [&](caf::error& x) { err = std::move(x); });
    BOOST_REQUIRE_MESSAGE(!err, "get_atom failed: " << sys->render(err));
    return result;
  }

  caf::actor start_dynamic(const caf::actor& host, const std::string& id) {
    caf::actor result;
    caf::error err;
    (*self)
        ->request(host, 5s, caf::put_atom::value, id)
        .receive([&](caf::actor& x) { result = std::move(x); },
                 [&](caf::error& x) { err = std::move(x); });
    BOOST_REQUIRE_MESSAGE(!err, "put_atom failed: " << sys->render(err));
    return result;
  }

  uint64_t dynamic_count(const caf::actor& host) {
    uint64_t result = 0;
    caf::error err;
    (*self)
        ->request(host, 5s, count_atom::value)
        .receive([&](uint64_t x) { result = x; },
                 [&](caf::error& x) { err = std::move(x); });
    BOOST_REQUIRE_MESSAGE(!err, "count_atom failed: " << sys->render(err));
    return result;
  }

  /// Waits until `supervisor` no longer has a running child `id`. A
  /// restarted child never shows as missing: the supervisor restarts it in
  /// the same step that notices its end.
  bool await_gone(const caf::actor& supervisor, const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!child(supervisor, id))
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  void crash(const caf::actor& x) { caf::anon_send(x, crash_atom::value); }

  void finish(const caf::actor& x) { caf::anon_send(x, finish_atom::value); }

  // -- events -----------------------------------------------------------------

  void push(caf::atom_value kind, std::string id, caf::actor handle = {},
            caf::error reason = {}, caf::actor_addr source = {}) {
    events.push_back(event{kind, std::move(id), std::move(handle),
                           std::move(reason), std::move(source), next_seq++});
  }

  /// Moves whatever arrives within `timeout` into `events`.
  void receive_some(caf::timespan timeout) {
    (*self)->receive(
        [&](started_atom, std::string& id, caf::actor& x) {
          push(started_atom::value, std::move(id), std::move(x));
        },
        [&](stopped_atom, std::string& id) {
          push(stopped_atom::value, std::move(id));
        },
        [&](restarted_atom, std::string& id, caf::actor& x) {
          push(restarted_atom::value, std::move(id), std::move(x));
        },
        [&](ended_atom, std::string& id, caf::error& reason) {
          push(ended_atom::value, std::move(id), {}, std::move(reason));
        },
        [&](gave_up_atom, std::string& id, caf::error& reason) {
          push(gave_up_atom::value, std::move(id), {}, std::move(reason));
        },
        [&](caf::down_msg& msg) {
          push(down_event, {}, {}, std::move(msg.reason),
               std::move(msg.source));
        },
        caf::after(timeout) >> [] {});
  }

  /// Removes and returns the first event matching `kind`, `id` (if not
  /// empty) and `source` (if valid), waiting for it up to ten seconds.
  event wait_for(caf::atom_value kind, const std::string& id = {},
                 const caf::actor_addr& source = {}) {
    auto matches = [&](const event& x) {
      return x.kind == kind && (id.empty() || x.id == id) &&
             (!source || x.source == source);
    };
    auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto i = std::find_if(events.begin(), events.end(), matches);
      if (i != events.end()) {
        auto result = std::move(*i);
        events.erase(i);
        return result;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        BOOST_FAIL("timed out waiting for event " << to_string(kind) << " '"
                                                  << id << "'");
      receive_some(50ms);
    }
  }

  caf::actor wait_started(const std::string& id) {
    return wait_for(started_atom::value, id).handle;
  }

  /// Returns the exit reason of the watched actor `x`.
  caf::error wait_down(const caf::actor& x) {
    return wait_for(down_event, {}, x.address()).reason;
  }

  bool has_event(caf::atom_value kind, const std::string& id) const {
    return std::any_of(events.begin(), events.end(), [&](const event& x) {
      return x.kind == kind && x.id == id;
    });
  }
};

bool is(const caf::error& x, sup::supervision_errc code) {
  return x.category() == caf::atom("supervisor") &&
         x.code() == static_cast<uint8_t>(code);
}

} // namespace

// -- strategies ---------------------------------------------------------------

//   sup (one_for_one)
//    +-- a
//    +-- b   <- crashes, restarted alone
//    +-- c
BOOST_FIXTURE_TEST_CASE(one_for_one_restarts_only_the_crashed_child, fixture) {
  auto s = spawn_sup({sup::strategy::one_for_one, {}},
                     {worker_spec("a", observer), worker_spec("b", observer),
                      worker_spec("c", observer)});
  auto a1 = wait_started("a");
  auto b1 = wait_started("b");
  auto c1 = wait_started("c");
  crash(b1);
  auto b2 = wait_started("b");
  BOOST_CHECK(b2 != b1);
  BOOST_CHECK(child(s, "b") == b2);
  BOOST_CHECK(child(s, "a") == a1);
  BOOST_CHECK(child(s, "c") == c1);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  BOOST_CHECK(!has_event(stopped_atom::value, "c"));
}

//   sup (one_for_all)
//    +-- a   <- stopped second, restarted first
//    +-- b   <- crashes
//    +-- c   <- stopped first
BOOST_FIXTURE_TEST_CASE(
    one_for_all_stops_the_others_in_reverse_order_and_restarts_all, fixture) {
  auto s = spawn_sup({sup::strategy::one_for_all, {}},
                     {worker_spec("a", observer), worker_spec("b", observer),
                      worker_spec("c", observer)});
  auto a1 = wait_started("a");
  auto b1 = wait_started("b");
  auto c1 = wait_started("c");
  crash(b1);
  auto stop_c = wait_for(stopped_atom::value, "c");
  auto stop_a = wait_for(stopped_atom::value, "a");
  auto start_a = wait_for(started_atom::value, "a");
  auto start_b = wait_for(started_atom::value, "b");
  auto start_c = wait_for(started_atom::value, "c");
  BOOST_CHECK_LT(stop_c.seq, stop_a.seq);
  BOOST_CHECK_LT(stop_a.seq, start_a.seq);
  BOOST_CHECK_LT(start_a.seq, start_b.seq);
  BOOST_CHECK_LT(start_b.seq, start_c.seq);
  BOOST_CHECK(start_a.handle != a1);
  BOOST_CHECK(start_b.handle != b1);
  BOOST_CHECK(start_c.handle != c1);
  BOOST_CHECK(child(s, "a") == start_a.handle);
  BOOST_CHECK(child(s, "c") == start_c.handle);
}

//   sup (rest_for_one)
//    +-- a   <- keeps running
//    +-- b   <- crashes, restarted
//    +-- c   <- stopped, restarted
BOOST_FIXTURE_TEST_CASE(
    rest_for_one_restarts_the_crashed_child_and_later_ones_only, fixture) {
  auto s = spawn_sup({sup::strategy::rest_for_one, {}},
                     {worker_spec("a", observer), worker_spec("b", observer),
                      worker_spec("c", observer)});
  auto a1 = wait_started("a");
  auto b1 = wait_started("b");
  auto c1 = wait_started("c");
  crash(b1);
  auto stop_c = wait_for(stopped_atom::value, "c");
  auto start_b = wait_for(started_atom::value, "b");
  auto start_c = wait_for(started_atom::value, "c");
  BOOST_CHECK_LT(stop_c.seq, start_b.seq);
  BOOST_CHECK_LT(start_b.seq, start_c.seq);
  BOOST_CHECK(start_b.handle != b1);
  BOOST_CHECK(start_c.handle != c1);
  BOOST_CHECK(child(s, "a") == a1);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  BOOST_CHECK(!has_event(started_atom::value, "a"));
}

//   sup (one_for_all)
//    +-- a   <- crashes, restarted
//    +-- t   <- temporary: stopped, never restarted
//    +-- c   <- stopped, restarted
BOOST_FIXTURE_TEST_CASE(one_for_all_never_restarts_a_temporary_sibling,
                        fixture) {
  auto s = spawn_sup({sup::strategy::one_for_all, {}},
                     {worker_spec("a", observer),
                      worker_spec("t", observer, sup::restart_type::temporary),
                      worker_spec("c", observer)});
  auto a1 = wait_started("a");
  wait_started("t");
  wait_started("c");
  crash(a1);
  wait_for(stopped_atom::value, "c");
  wait_for(stopped_atom::value, "t");
  wait_started("a");
  wait_started("c");
  BOOST_CHECK(!child(s, "t"));
  BOOST_CHECK(!has_event(started_atom::value, "t"));
}

// -- restart types ------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(permanent_child_is_restarted_after_a_normal_exit,
                        fixture) {
  auto s = spawn_sup({}, {worker_spec("p", observer)});
  auto p1 = wait_started("p");
  watch(p1);
  finish(p1);
  BOOST_CHECK(!wait_down(p1));
  auto p2 = wait_started("p");
  BOOST_CHECK(p2 != p1);
  BOOST_CHECK(child(s, "p") == p2);
}

BOOST_FIXTURE_TEST_CASE(transient_child_is_restarted_after_a_crash, fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::transient)});
  auto t1 = wait_started("t");
  crash(t1);
  auto t2 = wait_started("t");
  BOOST_CHECK(t2 != t1);
  BOOST_CHECK(child(s, "t") == t2);
}

BOOST_FIXTURE_TEST_CASE(transient_child_is_not_restarted_after_a_normal_exit,
                        fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::transient),
                     worker_spec("other", observer)});
  auto t1 = wait_started("t");
  auto other = wait_started("other");
  finish(t1);
  BOOST_CHECK(await_gone(s, "t"));
  BOOST_CHECK(child(s, "other") == other);
}

BOOST_FIXTURE_TEST_CASE(temporary_child_is_not_restarted_after_a_crash,
                        fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::temporary),
                     worker_spec("other", observer)});
  auto t1 = wait_started("t");
  auto other = wait_started("other");
  crash(t1);
  BOOST_CHECK(await_gone(s, "t"));
  BOOST_CHECK(child(s, "other") == other);
}

// -- intensity and escalation -------------------------------------------------

//   sup (one_for_one, at most 2 restarts a minute)
//    +-- a   <- crashes three times
//    +-- b   <- stopped when the supervisor gives up
BOOST_FIXTURE_TEST_CASE(
    exceeding_the_intensity_stops_children_and_the_supervisor, fixture) {
  auto s = spawn_sup({sup::strategy::one_for_one, {2, 1min}},
                     {worker_spec("a", observer), worker_spec("b", observer)});
  auto a = wait_started("a");
  auto b = wait_started("b");
  watch(b);
  crash(a);
  a = wait_started("a");
  crash(a);
  a = wait_started("a");
  crash(a);
  auto reason = wait_down(s);
  BOOST_CHECK(is(reason, sup::supervision_errc::intensity_exceeded));
  BOOST_CHECK(reason ==
              sup::make_error(sup::supervision_errc::intensity_exceeded));
  BOOST_CHECK_NE(sys->render(reason).find("intensity_exceeded"),
                 std::string::npos);
  wait_for(stopped_atom::value, "b");
  BOOST_CHECK(wait_down(b) == caf::exit_reason::user_shutdown);
}

//   root (one_for_one)
//    +-- mid (supervisor, one_for_one, at most 1 restart a minute)
//         +-- w   <- crashes twice: mid gives up, root restarts mid
BOOST_FIXTURE_TEST_CASE(
    nested_supervisor_escalates_to_a_parent_that_restarts_it, fixture) {
  sup::child_spec mid;
  mid.id = "mid";
  mid.start =
      [inner = sup::supervisor_start({sup::strategy::one_for_one, {1, 1min}},
                                     {worker_spec("w", observer)}),
       obs = observer](caf::event_based_actor* self,
                       const sup::children_view& siblings) {
        auto handle = inner(self, siblings);
        self->send(obs, started_atom::value, std::string{"mid"}, handle);
        return handle;
      };
  auto root = spawn_sup({}, {mid});
  auto mid1 = wait_started("mid");
  watch(mid1);
  auto w = wait_started("w");
  crash(w);
  w = wait_started("w");
  crash(w);
  auto reason = wait_down(mid1);
  BOOST_CHECK(is(reason, sup::supervision_errc::intensity_exceeded));
  auto mid2 = wait_started("mid");
  auto w3 = wait_started("w");
  BOOST_CHECK(mid2 != mid1);
  BOOST_CHECK(child(root, "mid") == mid2);
  BOOST_CHECK(child(mid2, "w") == w3);
}

// -- shutdown -----------------------------------------------------------------

//   sup
//    +-- a   <- stopped third
//    +-- b   <- stopped second
//    +-- c   <- stopped first
BOOST_FIXTURE_TEST_CASE(shutdown_stops_static_children_in_reverse_start_order,
                        fixture) {
  auto s =
      spawn_sup({}, {worker_spec("a", observer), worker_spec("b", observer),
                     worker_spec("c", observer)});
  wait_started("a");
  wait_started("b");
  wait_started("c");
  (*self)->send_exit(s, caf::exit_reason::user_shutdown);
  auto stop_c = wait_for(stopped_atom::value, "c");
  auto stop_b = wait_for(stopped_atom::value, "b");
  auto stop_a = wait_for(stopped_atom::value, "a");
  BOOST_CHECK_LT(stop_c.seq, stop_b.seq);
  BOOST_CHECK_LT(stop_b.seq, stop_a.seq);
  BOOST_CHECK(wait_down(s) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(!has_event(started_atom::value, "a"));
}

//   sup
//    +-- a
//    +-- stubborn   <- traps exits and never quits: killed after 100 ms
BOOST_FIXTURE_TEST_CASE(child_ignoring_exit_is_killed_after_its_shutdown_time,
                        fixture) {
  auto stubborn = worker_spec("stubborn", observer,
                              sup::restart_type::permanent, exit_mode::ignore);
  stubborn.shutdown = 100ms;
  auto s = spawn_sup({}, {worker_spec("a", observer), stubborn});
  wait_started("a");
  auto x = wait_started("stubborn");
  watch(x);
  (*self)->send_exit(s, caf::exit_reason::user_shutdown);
  BOOST_CHECK(wait_down(x) == caf::exit_reason::kill);
  wait_for(stopped_atom::value, "a");
  BOOST_CHECK(wait_down(s) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(
    supervisor_keeps_answering_while_a_child_is_slow_to_stop, fixture) {
  auto slow = worker_spec("slow", observer, sup::restart_type::permanent,
                          exit_mode::ignore);
  slow.shutdown = caf::timespan{std::chrono::hours{1}};
  auto s = spawn_sup({}, {worker_spec("a", observer), slow});
  auto a = wait_started("a");
  auto x = wait_started("slow");
  watch(x);
  (*self)->send_exit(s, caf::exit_reason::user_shutdown);
  // The supervisor waits for "slow" but still handles requests.
  BOOST_CHECK(child(s, "slow") == x);
  BOOST_CHECK(child(s, "a") == a);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  caf::anon_send_exit(s, caf::exit_reason::kill);
  BOOST_CHECK(wait_down(x) == caf::exit_reason::kill);
}

//   sup   <- killed (cannot trap it)
//    +-- a   <- killed with it
//    +-- b   <- killed with it
BOOST_FIXTURE_TEST_CASE(children_do_not_outlive_a_killed_supervisor, fixture) {
  auto s =
      spawn_sup({}, {worker_spec("a", observer), worker_spec("b", observer)});
  auto a = wait_started("a");
  auto b = wait_started("b");
  watch(a);
  watch(b);
  caf::anon_send_exit(s, caf::exit_reason::kill);
  BOOST_CHECK(wait_down(s) == caf::exit_reason::kill);
  BOOST_CHECK(wait_down(a) == caf::exit_reason::kill);
  BOOST_CHECK(wait_down(b) == caf::exit_reason::kill);
}

// -- start failures -----------------------------------------------------------

//   sup
//    +-- a   <- started, then stopped again
//    +-- b   <- start function throws
//    +-- c   <- never started
BOOST_FIXTURE_TEST_CASE(throwing_initial_start_stops_started_children_and_quits,
                        fixture) {
  sup::child_spec b;
  b.id = "b";
  b.start = [](caf::event_based_actor*,
               const sup::children_view&) -> caf::actor {
    throw std::runtime_error("cannot start b");
  };
  auto s = spawn_sup(
      {}, {worker_spec("a", observer), b, worker_spec("c", observer)});
  wait_started("a");
  wait_for(stopped_atom::value, "a");
  BOOST_CHECK(is(wait_down(s), sup::supervision_errc::start_failed));
  BOOST_CHECK(!has_event(started_atom::value, "c"));
}

BOOST_FIXTURE_TEST_CASE(start_returning_no_actor_is_a_failed_start, fixture) {
  sup::child_spec a;
  a.id = "a";
  a.start = [](caf::event_based_actor*, const sup::children_view&) {
    return caf::actor{};
  };
  auto s = spawn_sup({}, {a});
  BOOST_CHECK(is(wait_down(s), sup::supervision_errc::start_failed));
}

//   sup (at most 2 restarts a minute)
//    +-- a   <- crashes; every restart attempt throws
//    +-- b   <- stopped when the supervisor gives up
BOOST_FIXTURE_TEST_CASE(failed_restarts_count_toward_the_intensity, fixture) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  sup::child_spec a;
  a.id = "a";
  a.start = [calls, inner = start_worker("a", observer)](
                caf::event_based_actor* self,
                const sup::children_view& siblings) {
    if (++*calls > 1)
      throw std::runtime_error("cannot restart a");
    return inner(self, siblings);
  };
  auto s = spawn_sup({sup::strategy::one_for_one, {2, 1min}},
                     {a, worker_spec("b", observer)});
  auto a1 = wait_started("a");
  wait_started("b");
  crash(a1);
  BOOST_CHECK(is(wait_down(s), sup::supervision_errc::intensity_exceeded));
  wait_for(stopped_atom::value, "b");
  BOOST_CHECK_EQUAL(calls->load(), 3);
}

//   sup
//    +-- a
//    +-- b   <- its start function looks up a (found) and c (not yet)
//    +-- c
BOOST_FIXTURE_TEST_CASE(start_function_sees_earlier_siblings_only, fixture) {
  sup::child_spec b;
  b.id = "b";
  b.start = [obs = observer, inner = start_worker("b", observer)](
                caf::event_based_actor* self,
                const sup::children_view& siblings) {
    self->send(obs, saw_atom::value, siblings.find("a"), siblings.find("c"));
    return inner(self, siblings);
  };
  spawn_sup({}, {worker_spec("a", observer), b, worker_spec("c", observer)});
  auto a = wait_started("a");
  caf::actor saw_a;
  caf::actor saw_c;
  bool received = false;
  (*self)->receive(
      [&](saw_atom, caf::actor& x, caf::actor& y) {
        saw_a = x;
        saw_c = y;
        received = true;
      },
      caf::after(10s) >> [] {});
  BOOST_REQUIRE(received);
  BOOST_CHECK(saw_a == a);
  BOOST_CHECK(!saw_c);
}

BOOST_FIXTURE_TEST_CASE(stray_messages_do_not_kill_a_supervisor, fixture) {
  auto s = spawn_sup({}, {worker_spec("a", observer)});
  auto a = wait_started("a");
  (*self)->send(s, std::string{"junk"});
  (*self)->send(s, caf::make_error(caf::sec::runtime_error));
  caf::error err;
  (*self)
      ->request(s, 5s, std::string{"junk"})
      .receive([] {}, [&](caf::error& x) { err = std::move(x); });
  BOOST_CHECK(err == caf::sec::unexpected_message);
  BOOST_CHECK(child(s, "a") == a);
}

BOOST_FIXTURE_TEST_CASE(normal_exit_message_does_not_stop_a_supervisor,
                        fixture) {
  auto s = spawn_sup({}, {worker_spec("a", observer)});
  auto a = wait_started("a");
  (*self)->send_exit(s, caf::exit_reason::normal);
  BOOST_CHECK(child(s, "a") == a);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
}

// -- dynamic children ---------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(dynamic_child_is_started_once_per_id, fixture) {
  auto host = spawn_host({}, worker_template(observer));
  auto c1 = start_dynamic(host, "cart-1");
  BOOST_REQUIRE(c1);
  BOOST_CHECK(start_dynamic(host, "cart-1") == c1);
  BOOST_CHECK(child(host, "cart-1") == c1);
  BOOST_CHECK(!child(host, "cart-2"));
  BOOST_CHECK_EQUAL(dynamic_count(host), 1u);
}

//   host
//    +-- cart-1   <- crashes: restarted, on_restarted
BOOST_FIXTURE_TEST_CASE(crashed_dynamic_child_is_restarted_and_reported,
                        fixture) {
  auto host = spawn_host({}, worker_template(observer));
  auto c1 = start_dynamic(host, "cart-1");
  crash(c1);
  auto restarted = wait_for(restarted_atom::value, "cart-1");
  BOOST_CHECK(restarted.handle);
  BOOST_CHECK(restarted.handle != c1);
  BOOST_CHECK(child(host, "cart-1") == restarted.handle);
  BOOST_CHECK_EQUAL(dynamic_count(host), 1u);
}

BOOST_FIXTURE_TEST_CASE(
    normal_end_of_a_transient_dynamic_child_is_reported_and_not_restarted,
    fixture) {
  auto host = spawn_host({}, worker_template(observer));
  auto c1 = start_dynamic(host, "cart-1");
  finish(c1);
  auto ended = wait_for(ended_atom::value, "cart-1");
  BOOST_CHECK(!ended.reason);
  BOOST_CHECK(!child(host, "cart-1"));
  BOOST_CHECK_EQUAL(dynamic_count(host), 0u);
  BOOST_CHECK(!has_event(restarted_atom::value, "cart-1"));
}

//   host (each dynamic child: at most 1 restart a minute)
//    +-- cart-1   <- crashes twice: given up
//    +-- cart-2   <- untouched
BOOST_FIXTURE_TEST_CASE(
    dynamic_child_over_its_budget_is_given_up_while_others_survive, fixture) {
  auto tpl = worker_template(observer);
  tpl.dynamic_intensity = {1, 1min};
  auto host = spawn_host({}, tpl);
  auto c1 = start_dynamic(host, "cart-1");
  auto c2 = start_dynamic(host, "cart-2");
  crash(c1);
  auto again = wait_for(restarted_atom::value, "cart-1").handle;
  crash(again);
  auto gave_up = wait_for(gave_up_atom::value, "cart-1");
  BOOST_CHECK(gave_up.reason == caf::exit_reason::unhandled_exception);
  BOOST_CHECK(!child(host, "cart-1"));
  BOOST_CHECK(child(host, "cart-2") == c2);
  BOOST_CHECK_EQUAL(dynamic_count(host), 1u);
  // The id can be started afresh later.
  BOOST_CHECK(start_dynamic(host, "cart-1"));
}

//   host
//    +-- s1       <- static, stopped last
//    +-- s2       <- static, stopped after the dynamic children
//    +-- cart-1   <- dynamic, stopped first (with cart-2)
//    +-- cart-2
BOOST_FIXTURE_TEST_CASE(
    shutdown_stops_dynamic_children_first_then_static_in_reverse, fixture) {
  auto host =
      spawn_host({worker_spec("s1", observer), worker_spec("s2", observer)},
                 worker_template(observer));
  start_dynamic(host, "cart-1");
  start_dynamic(host, "cart-2");
  (*self)->send_exit(host, caf::exit_reason::user_shutdown);
  auto d1 = wait_for(stopped_atom::value, "cart-1");
  auto d2 = wait_for(stopped_atom::value, "cart-2");
  auto s2 = wait_for(stopped_atom::value, "s2");
  auto s1 = wait_for(stopped_atom::value, "s1");
  BOOST_CHECK_LT(d1.seq, s2.seq);
  BOOST_CHECK_LT(d2.seq, s2.seq);
  BOOST_CHECK_LT(s2.seq, s1.seq);
  wait_for(ended_atom::value, "cart-1");
  wait_for(ended_atom::value, "cart-2");
  BOOST_CHECK(wait_down(host) == caf::exit_reason::user_shutdown);
}

//   host (stop window 2)
//    +-- cart-0 .. cart-5   <- each stops only when the test tells it to
//
// Shutdown asks at most two dynamic children at a time to stop; the next is
// asked once one has ended. (CAF 0.17's work stealing is O(n) per steal, so
// asking 100k carts at once took minutes.)
BOOST_FIXTURE_TEST_CASE(shutdown_stops_dynamic_children_a_window_at_a_time,
                        fixture) {
  auto tpl = worker_template(observer, exit_mode::report_and_wait);
  tpl.stop_window = 2;
  auto host = spawn_host({}, tpl);
  std::map<std::string, caf::actor> carts;
  for (int i = 0; i < 6; ++i) {
    auto id = "cart-" + std::to_string(i);
    carts[id] = start_dynamic(host, id);
  }
  (*self)->send_exit(host, caf::exit_reason::user_shutdown);
  for (size_t k = 0; k < carts.size(); ++k) {
    auto stopping = wait_for(stopped_atom::value);
    // Everything that arrived before this event is in `events` now.
    auto ended_before = static_cast<size_t>(
        std::count_if(events.begin(), events.end(), [&](const event& x) {
          return x.kind == ended_atom::value && x.seq < stopping.seq;
        }));
    BOOST_CHECK_MESSAGE(k < 2 || ended_before >= k - 1,
                        "child #" << k << " (" << stopping.id
                                  << ") was asked to stop while only "
                                  << ended_before
                                  << " had ended");
    finish(carts[stopping.id]);
  }
  for (auto& kvp : carts)
    wait_for(ended_atom::value, kvp.first);
  BOOST_CHECK(wait_down(host) == caf::exit_reason::user_shutdown);
}

//   host
//    +-- slow     <- static, ignores the exit: keeps the host shutting down
//    +-- cart-1   <- dynamic, stopped first
BOOST_FIXTURE_TEST_CASE(no_dynamic_child_starts_during_shutdown, fixture) {
  auto slow = worker_spec("slow", observer, sup::restart_type::permanent,
                          exit_mode::ignore);
  slow.shutdown = caf::timespan{std::chrono::hours{1}};
  auto host = spawn_host({slow}, worker_template(observer));
  auto x = wait_started("slow");
  watch(x);
  start_dynamic(host, "cart-1");
  (*self)->send_exit(host, caf::exit_reason::user_shutdown);
  wait_for(ended_atom::value, "cart-1");
  BOOST_CHECK(!start_dynamic(host, "cart-2"));
  BOOST_CHECK_EQUAL(dynamic_count(host), 0u);
  caf::anon_send_exit(host, caf::exit_reason::kill);
  BOOST_CHECK(wait_down(x) == caf::exit_reason::kill);
}

BOOST_FIXTURE_TEST_CASE(host_can_begin_the_ordered_shutdown_itself, fixture) {
  auto host =
      spawn_host({worker_spec("s1", observer)}, worker_template(observer));
  start_dynamic(host, "cart-1");
  (*self)->send(host, caf::delete_atom::value);
  auto d1 = wait_for(stopped_atom::value, "cart-1");
  auto s1 = wait_for(stopped_atom::value, "s1");
  BOOST_CHECK_LT(d1.seq, s1.seq);
  BOOST_CHECK(wait_down(host) == caf::exit_reason::user_shutdown);
}
