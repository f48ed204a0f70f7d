#define BOOST_TEST_MODULE runtime_supervision
#include <boost/test/unit_test.hpp>

#include "runtime/supervision/supervisor.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

// These tests run CAF's deterministic scheduler (test_coordinator): nothing
// runs until the test calls run(), which runs every actor until no message
// is left, and time only passes when the test advances the virtual clock.
// Children and start functions report events to the test's scoped actor;
// after run() every event that will ever come is in `events`, so a check
// that an event is missing ("a was not stopped") is as strong as one that
// it is there. No sleeps, no deadlines.

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

// -- messages to workers and hosts --------------------------------------------

/// Makes a worker throw.
using crash_atom = caf::atom_constant<caf::atom("crash")>;
/// Makes a worker quit normally.
using finish_atom = caf::atom_constant<caf::atom("finish")>;
/// Asks a dynamic host for its number of dynamic children.
using count_atom = caf::atom_constant<caf::atom("count")>;
/// Asks a dynamic host for a static child as typed_worker (as caf::actor).
using typed_atom = caf::atom_constant<caf::atom("typed")>;
/// Asks a dynamic host for a static child as other_typed (as caf::actor).
using other_atom = caf::atom_constant<caf::atom("other")>;

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

/// A typed worker: answers n with n + 1, throws on crash_atom, reports an
/// exit_msg like worker's report_and_quit.
using typed_worker = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>,
                                      caf::reacts_to<crash_atom>>;

/// An interface no child has.
using other_typed =
    caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

typed_worker::behavior_type typed_worker_impl(typed_worker::pointer self,
                                              std::string id,
                                              caf::actor observer) {
  self->set_exception_handler(
      [](caf::scheduled_actor*, std::exception_ptr&) -> caf::error {
        return caf::exit_reason::unhandled_exception;
      });
  self->set_exit_handler([=](caf::scheduled_actor*, caf::exit_msg& msg) {
    caf::anon_send(observer, stopped_atom::value, id);
    self->quit(msg.reason);
  });
  return {
      [](int32_t x) { return x + 1; },
      [](crash_atom) { throw std::runtime_error("crash requested"); },
  };
}

/// A static child whose start function returns a typed_worker handle.
sup::child_spec typed_spec(std::string id, caf::actor observer) {
  sup::child_spec result;
  result.id = id;
  result.start = [=](caf::event_based_actor* self,
                     const sup::children_view&) -> sup::child_handle {
    auto handle = self->spawn(typed_worker_impl, id, observer);
    self->send(observer, started_atom::value, id,
               caf::actor_cast<caf::actor>(handle));
    return handle;
  };
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
      [=](typed_atom, const std::string& id) {
        return caf::actor_cast<caf::actor>(
            self->state.core->find<typed_worker>(id));
      },
      [=](other_atom, const std::string& id) {
        return caf::actor_cast<caf::actor>(
            self->state.core->find<other_typed>(id));
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
  /// Second handle of a saw_atom event.
  caf::actor other;
  /// Arrival order at the observer.
  size_t seq = 0;
};

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  sup::add_supervision_error_category(cfg);
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  caf::scheduler::test_coordinator& sched;
  caf::actor observer;
  std::deque<event> events;
  size_t next_seq = 0;
  /// Actors the test spawned; killed at the end (their children follow).
  std::vector<caf::actor> owned;

  fixture()
      : sys(deterministic(cfg)), self(sys, true),
        sched(
            dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    observer = caf::actor_cast<caf::actor>(self);
  }

  ~fixture() {
    for (auto& x : owned)
      caf::anon_send_exit(x, caf::exit_reason::kill);
    owned.clear();
    sched.run();
    events.clear();
    observer = nullptr;
  }

  // -- running ----------------------------------------------------------------

  /// Runs every actor until no message is left, then moves what the test's
  /// actor received into `events`.
  void run() {
    sched.run();
    drain();
  }

  /// Lets `x` of virtual time pass (firing the timers due), then runs.
  void advance(caf::timespan x) {
    sched.advance_time(x);
    run();
  }

  // -- spawning ---------------------------------------------------------------

  caf::actor spawn_sup(sup::supervisor_flags flags,
                       std::vector<sup::child_spec> children) {
    auto result = sup::spawn_supervisor(sys, flags, std::move(children));
    watch(result);
    owned.push_back(result);
    run();
    return result;
  }

  caf::actor spawn_host(std::vector<sup::child_spec> statics,
                        sup::dynamic_child_template tpl) {
    auto result =
        sys.spawn(dynamic_host, observer, std::move(statics), std::move(tpl));
    watch(result);
    owned.push_back(result);
    run();
    return result;
  }

  /// Monitors `x`; its down_msg becomes a `down_event`.
  void watch(const caf::actor& x) { self->monitor(x); }

  // -- requests ---------------------------------------------------------------

  /// Sends a request from a fresh actor, runs, and returns the reply.
  /// Fails the test if no reply came.
  template <class T, class... Ts>
  caf::expected<T> ask(const caf::actor& dest, Ts... xs) {
    auto reply = std::make_shared<caf::optional<caf::expected<T>>>();
    sys.spawn([=](caf::event_based_actor* client) {
      client->request(dest, caf::infinite, xs...)
          .then([=](T& x) { *reply = caf::expected<T>{std::move(x)}; },
                [=](caf::error& x) { *reply = caf::expected<T>{x}; });
    });
    run();
    BOOST_REQUIRE_MESSAGE(*reply, "no reply to a request");
    return std::move(**reply);
  }

  /// Renders the error of `x` (Boost evaluates a message even when the
  /// check holds).
  template <class T>
  std::string failure(const caf::expected<T>& x) {
    return x ? std::string{} : sys.render(x.error());
  }

  /// Asks `sup` (a supervisor or dynamic host) for its child `id`.
  caf::actor child(const caf::actor& supervisor, const std::string& id) {
    auto result = ask<caf::actor>(supervisor, caf::get_atom::value, id);
    BOOST_REQUIRE_MESSAGE(result, "get_atom failed: " << failure(result));
    return *result;
  }

  caf::actor start_dynamic(const caf::actor& host, const std::string& id) {
    auto result = ask<caf::actor>(host, caf::put_atom::value, id);
    BOOST_REQUIRE_MESSAGE(result, "put_atom failed: " << failure(result));
    return *result;
  }

  uint64_t dynamic_count(const caf::actor& host) {
    auto result = ask<uint64_t>(host, count_atom::value);
    BOOST_REQUIRE_MESSAGE(result, "count_atom failed: " << failure(result));
    return *result;
  }

  void crash(const caf::actor& x) {
    caf::anon_send(x, crash_atom::value);
    run();
  }

  void finish(const caf::actor& x) {
    caf::anon_send(x, finish_atom::value);
    run();
  }

  void send_exit(const caf::actor& x, caf::exit_reason reason) {
    caf::anon_send_exit(x, reason);
    run();
  }

  // -- events -----------------------------------------------------------------

  void push(caf::atom_value kind, std::string id, caf::actor handle = {},
            caf::error reason = {}, caf::actor_addr source = {},
            caf::actor other = {}) {
    events.push_back(event{kind, std::move(id), std::move(handle),
                           std::move(reason), std::move(source),
                           std::move(other), next_seq++});
  }

  /// Moves every message in the test actor's mailbox into `events`.
  void drain() {
    for (bool more = true; more;) {
      self->receive(
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
          [&](saw_atom, caf::actor& x, caf::actor& y) {
            push(saw_atom::value, {}, std::move(x), {}, {}, std::move(y));
          },
          [&](caf::down_msg& msg) {
            push(down_event, {}, {}, std::move(msg.reason),
                 std::move(msg.source));
          },
          caf::after(caf::timespan{0}) >> [&] { more = false; });
    }
  }

  /// Removes and returns the first event matching `kind`, `id` (if not
  /// empty) and `source` (if valid). Fails the test if there is none.
  event take(caf::atom_value kind, const std::string& id = {},
             const caf::actor_addr& source = {}) {
    auto matches = [&](const event& x) {
      return x.kind == kind && (id.empty() || x.id == id) &&
             (!source || x.source == source);
    };
    auto i = std::find_if(events.begin(), events.end(), matches);
    if (i == events.end())
      BOOST_FAIL("no event " << to_string(kind) << " '" << id << "'");
    auto result = std::move(*i);
    events.erase(i);
    return result;
  }

  /// Removes and returns all events of `kind`, in arrival order.
  std::vector<event> take_all(caf::atom_value kind) {
    std::vector<event> result;
    for (auto i = events.begin(); i != events.end();) {
      if (i->kind == kind) {
        result.push_back(std::move(*i));
        i = events.erase(i);
      } else {
        ++i;
      }
    }
    return result;
  }

  caf::actor take_started(const std::string& id) {
    return take(started_atom::value, id).handle;
  }

  /// The exit reason of the watched actor `x`, which must have ended.
  caf::error take_down(const caf::actor& x) {
    return take(down_event, {}, x.address()).reason;
  }

  /// Whether an event of `kind` for `id` arrived and was not taken yet.
  bool has_event(caf::atom_value kind, const std::string& id = {}) const {
    return std::any_of(events.begin(), events.end(), [&](const event& x) {
      return x.kind == kind && (id.empty() || x.id == id);
    });
  }

  /// Whether the watched actor `x` ended (and its down event not taken).
  bool is_down(const caf::actor& x) const {
    return std::any_of(events.begin(), events.end(), [&](const event& e) {
      return e.kind == down_event && e.source == x.address();
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
  auto a1 = take_started("a");
  auto b1 = take_started("b");
  auto c1 = take_started("c");
  crash(b1);
  auto b2 = take_started("b");
  BOOST_CHECK(b2 != b1);
  BOOST_CHECK(child(s, "b") == b2);
  BOOST_CHECK(child(s, "a") == a1);
  BOOST_CHECK(child(s, "c") == c1);
  BOOST_CHECK(!has_event(stopped_atom::value));
  BOOST_CHECK(!has_event(started_atom::value));
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
  auto a1 = take_started("a");
  auto b1 = take_started("b");
  auto c1 = take_started("c");
  crash(b1);
  auto stop_c = take(stopped_atom::value, "c");
  auto stop_a = take(stopped_atom::value, "a");
  auto start_a = take(started_atom::value, "a");
  auto start_b = take(started_atom::value, "b");
  auto start_c = take(started_atom::value, "c");
  BOOST_CHECK_LT(stop_c.seq, stop_a.seq);
  BOOST_CHECK_LT(stop_a.seq, start_a.seq);
  BOOST_CHECK_LT(start_a.seq, start_b.seq);
  BOOST_CHECK_LT(start_b.seq, start_c.seq);
  BOOST_CHECK(start_a.handle != a1);
  BOOST_CHECK(start_b.handle != b1);
  BOOST_CHECK(start_c.handle != c1);
  BOOST_CHECK(child(s, "a") == start_a.handle);
  BOOST_CHECK(child(s, "c") == start_c.handle);
  BOOST_CHECK(!has_event(stopped_atom::value));
  BOOST_CHECK(!has_event(started_atom::value));
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
  auto a1 = take_started("a");
  auto b1 = take_started("b");
  auto c1 = take_started("c");
  crash(b1);
  auto stop_c = take(stopped_atom::value, "c");
  auto start_b = take(started_atom::value, "b");
  auto start_c = take(started_atom::value, "c");
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
  auto a1 = take_started("a");
  take_started("t");
  take_started("c");
  crash(a1);
  take(stopped_atom::value, "c");
  take(stopped_atom::value, "t");
  take_started("a");
  take_started("c");
  BOOST_CHECK(!child(s, "t"));
  BOOST_CHECK(!has_event(started_atom::value, "t"));
}

// -- restart types ------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(permanent_child_is_restarted_after_a_normal_exit,
                        fixture) {
  auto s = spawn_sup({}, {worker_spec("p", observer)});
  auto p1 = take_started("p");
  watch(p1);
  finish(p1);
  BOOST_CHECK(!take_down(p1));
  auto p2 = take_started("p");
  BOOST_CHECK(p2 != p1);
  BOOST_CHECK(child(s, "p") == p2);
}

BOOST_FIXTURE_TEST_CASE(transient_child_is_restarted_after_a_crash, fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::transient)});
  auto t1 = take_started("t");
  crash(t1);
  auto t2 = take_started("t");
  BOOST_CHECK(t2 != t1);
  BOOST_CHECK(child(s, "t") == t2);
}

BOOST_FIXTURE_TEST_CASE(transient_child_is_not_restarted_after_a_normal_exit,
                        fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::transient),
                     worker_spec("other", observer)});
  auto t1 = take_started("t");
  auto other = take_started("other");
  finish(t1);
  BOOST_CHECK(!child(s, "t"));
  BOOST_CHECK(!has_event(started_atom::value, "t"));
  BOOST_CHECK(child(s, "other") == other);
}

BOOST_FIXTURE_TEST_CASE(temporary_child_is_not_restarted_after_a_crash,
                        fixture) {
  auto s =
      spawn_sup({}, {worker_spec("t", observer, sup::restart_type::temporary),
                     worker_spec("other", observer)});
  auto t1 = take_started("t");
  auto other = take_started("other");
  crash(t1);
  BOOST_CHECK(!child(s, "t"));
  BOOST_CHECK(!has_event(started_atom::value, "t"));
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
  auto a = take_started("a");
  auto b = take_started("b");
  watch(b);
  crash(a);
  a = take_started("a");
  crash(a);
  a = take_started("a");
  BOOST_CHECK(!is_down(s));
  crash(a);
  auto reason = take_down(s);
  BOOST_CHECK(is(reason, sup::supervision_errc::intensity_exceeded));
  BOOST_CHECK(reason ==
              sup::make_error(sup::supervision_errc::intensity_exceeded));
  BOOST_CHECK_NE(sys.render(reason).find("intensity_exceeded"),
                 std::string::npos);
  take(stopped_atom::value, "b");
  BOOST_CHECK(take_down(b) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(!has_event(started_atom::value));
}

//   sup (one_for_one, at most 2 restarts a minute)
//    +-- a   <- crashes twice, then again after a minute: still restarted
BOOST_FIXTURE_TEST_CASE(restarts_older_than_the_period_do_not_count, fixture) {
  auto s = spawn_sup({sup::strategy::one_for_one, {2, 1min}},
                     {worker_spec("a", observer)});
  auto a = take_started("a");
  crash(a);
  a = take_started("a");
  crash(a);
  a = take_started("a");
  advance(1min);
  crash(a);
  a = take_started("a");
  BOOST_CHECK(!is_down(s));
  BOOST_CHECK(child(s, "a") == a);
}

//   root (one_for_one)
//    +-- mid (supervisor, one_for_one, at most 1 restart a minute)
//         +-- w   <- crashes twice: mid gives up, root restarts mid
BOOST_FIXTURE_TEST_CASE(
    nested_supervisor_escalates_to_a_parent_that_restarts_it, fixture) {
  sup::child_spec mid;
  mid.id = "mid";
  mid.start = [inner = sup::supervisor_start(
                   {sup::strategy::one_for_one, {1, 1min}},
                   {worker_spec("w", observer)}),
               obs = observer](caf::event_based_actor* self,
                               const sup::children_view& siblings) {
    auto handle = inner(self, siblings);
    self->send(obs, started_atom::value, std::string{"mid"}, handle.untyped());
    return handle;
  };
  auto root = spawn_sup({}, {mid});
  auto mid1 = take_started("mid");
  watch(mid1);
  auto w = take_started("w");
  crash(w);
  w = take_started("w");
  crash(w);
  auto reason = take_down(mid1);
  BOOST_CHECK(is(reason, sup::supervision_errc::intensity_exceeded));
  auto mid2 = take_started("mid");
  auto w3 = take_started("w");
  BOOST_CHECK(mid2 != mid1);
  BOOST_CHECK(child(root, "mid") == mid2);
  BOOST_CHECK(child(mid2, "w") == w3);
  BOOST_CHECK(!is_down(root));
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
  take_started("a");
  take_started("b");
  take_started("c");
  send_exit(s, caf::exit_reason::user_shutdown);
  auto stop_c = take(stopped_atom::value, "c");
  auto stop_b = take(stopped_atom::value, "b");
  auto stop_a = take(stopped_atom::value, "a");
  BOOST_CHECK_LT(stop_c.seq, stop_b.seq);
  BOOST_CHECK_LT(stop_b.seq, stop_a.seq);
  BOOST_CHECK(take_down(s) == caf::exit_reason::user_shutdown);
  BOOST_CHECK(!has_event(started_atom::value));
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
  take_started("a");
  auto x = take_started("stubborn");
  watch(x);
  send_exit(s, caf::exit_reason::user_shutdown);
  advance(99ms);
  BOOST_CHECK(!is_down(x));
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  advance(1ms);
  BOOST_CHECK(take_down(x) == caf::exit_reason::kill);
  take(stopped_atom::value, "a");
  BOOST_CHECK(take_down(s) == caf::exit_reason::user_shutdown);
}

BOOST_FIXTURE_TEST_CASE(
    supervisor_keeps_answering_while_a_child_is_slow_to_stop, fixture) {
  auto slow = worker_spec("slow", observer, sup::restart_type::permanent,
                          exit_mode::ignore);
  slow.shutdown = caf::timespan{std::chrono::hours{1}};
  auto s = spawn_sup({}, {worker_spec("a", observer), slow});
  auto a = take_started("a");
  auto x = take_started("slow");
  watch(x);
  send_exit(s, caf::exit_reason::user_shutdown);
  // The supervisor waits for "slow" but still handles requests.
  BOOST_CHECK(child(s, "slow") == x);
  BOOST_CHECK(child(s, "a") == a);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  BOOST_CHECK(!is_down(s));
  send_exit(s, caf::exit_reason::kill);
  BOOST_CHECK(take_down(x) == caf::exit_reason::kill);
}

//   sup   <- killed (cannot trap it)
//    +-- a   <- killed with it
//    +-- b   <- killed with it
BOOST_FIXTURE_TEST_CASE(children_do_not_outlive_a_killed_supervisor, fixture) {
  auto s =
      spawn_sup({}, {worker_spec("a", observer), worker_spec("b", observer)});
  auto a = take_started("a");
  auto b = take_started("b");
  watch(a);
  watch(b);
  send_exit(s, caf::exit_reason::kill);
  BOOST_CHECK(take_down(s) == caf::exit_reason::kill);
  BOOST_CHECK(take_down(a) == caf::exit_reason::kill);
  BOOST_CHECK(take_down(b) == caf::exit_reason::kill);
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
  take_started("a");
  take(stopped_atom::value, "a");
  BOOST_CHECK(is(take_down(s), sup::supervision_errc::start_failed));
  BOOST_CHECK(!has_event(started_atom::value, "c"));
}

BOOST_FIXTURE_TEST_CASE(start_returning_no_actor_is_a_failed_start, fixture) {
  sup::child_spec a;
  a.id = "a";
  a.start = [](caf::event_based_actor*, const sup::children_view&) {
    return caf::actor{};
  };
  auto s = spawn_sup({}, {a});
  BOOST_CHECK(is(take_down(s), sup::supervision_errc::start_failed));
}

//   sup (at most 2 restarts a minute)
//    +-- a   <- crashes; every restart attempt throws
//    +-- b   <- stopped when the supervisor gives up
BOOST_FIXTURE_TEST_CASE(failed_restarts_count_toward_the_intensity, fixture) {
  auto calls = std::make_shared<int>(0);
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
  auto a1 = take_started("a");
  take_started("b");
  crash(a1);
  BOOST_CHECK(is(take_down(s), sup::supervision_errc::intensity_exceeded));
  take(stopped_atom::value, "b");
  BOOST_CHECK_EQUAL(*calls, 3);
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
  auto a = take_started("a");
  auto saw = take(saw_atom::value);
  BOOST_CHECK(saw.handle == a);
  BOOST_CHECK(!saw.other);
}

BOOST_FIXTURE_TEST_CASE(stray_messages_do_not_kill_a_supervisor, fixture) {
  auto s = spawn_sup({}, {worker_spec("a", observer)});
  auto a = take_started("a");
  self->send(s, std::string{"junk"});
  self->send(s, caf::make_error(caf::sec::runtime_error));
  run();
  auto reply = ask<caf::actor>(s, std::string{"junk"});
  BOOST_REQUIRE(!reply);
  BOOST_CHECK(reply.error() == caf::sec::unexpected_message);
  BOOST_CHECK(child(s, "a") == a);
  BOOST_CHECK(!is_down(s));
}

BOOST_FIXTURE_TEST_CASE(normal_exit_message_does_not_stop_a_supervisor,
                        fixture) {
  auto s = spawn_sup({}, {worker_spec("a", observer)});
  auto a = take_started("a");
  send_exit(s, caf::exit_reason::normal);
  BOOST_CHECK(child(s, "a") == a);
  BOOST_CHECK(!has_event(stopped_atom::value, "a"));
  BOOST_CHECK(!is_down(s));
}

// -- typed children -----------------------------------------------------------

//   sup
//    +-- t      <- a typed_worker
//    +-- probe  <- its start function looks t up as typed_worker, as
//                  other_typed (refused) and untyped
BOOST_FIXTURE_TEST_CASE(typed_child_is_found_only_under_its_own_type, fixture) {
  sup::child_spec probe;
  probe.id = "probe";
  probe.start = [obs = observer, inner = start_worker("probe", observer)](
                    caf::event_based_actor* self,
                    const sup::children_view& siblings) {
    auto as_typed = siblings.find<typed_worker>("t");
    auto as_other = siblings.find<other_typed>("t");
    auto untyped = siblings.find("t");
    self->send(obs, saw_atom::value, caf::actor_cast<caf::actor>(as_typed),
               caf::actor_cast<caf::actor>(as_other));
    self->send(obs, saw_atom::value, untyped, siblings.find<caf::actor>("t"));
    return inner(self, siblings);
  };
  spawn_sup({}, {typed_spec("t", observer), probe});
  auto t = take_started("t");
  auto typed = take(saw_atom::value);
  BOOST_CHECK(typed.handle == t);
  BOOST_CHECK(!typed.other);
  auto untyped = take(saw_atom::value);
  BOOST_CHECK(untyped.handle == t);
  BOOST_CHECK(untyped.other == t);
}

//   host
//    +-- t   <- a typed_worker; crashes, restarted: still found typed
BOOST_FIXTURE_TEST_CASE(supervisor_core_finds_a_typed_child_by_its_type,
                        fixture) {
  auto host = spawn_host({typed_spec("t", observer)}, {});
  auto t1 = take_started("t");
  BOOST_CHECK(*ask<caf::actor>(host, typed_atom::value, std::string{"t"}) ==
              t1);
  BOOST_CHECK(!*ask<caf::actor>(host, other_atom::value, std::string{"t"}));
  crash(t1);
  auto t2 = take_started("t");
  BOOST_CHECK(t2 != t1);
  BOOST_CHECK(*ask<caf::actor>(host, typed_atom::value, std::string{"t"}) ==
              t2);
  // A typed child answers through its typed handle.
  auto reply = ask<int32_t>(t2, int32_t{20});
  BOOST_REQUIRE(reply);
  BOOST_CHECK_EQUAL(*reply, 21);
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
  take_started("cart-1");
  BOOST_CHECK(!has_event(started_atom::value));
}

//   host
//    +-- cart-1   <- crashes: restarted, on_restarted
BOOST_FIXTURE_TEST_CASE(crashed_dynamic_child_is_restarted_and_reported,
                        fixture) {
  auto host = spawn_host({}, worker_template(observer));
  auto c1 = start_dynamic(host, "cart-1");
  crash(c1);
  auto restarted = take(restarted_atom::value, "cart-1");
  BOOST_CHECK(restarted.handle);
  BOOST_CHECK(restarted.handle != c1);
  BOOST_CHECK(child(host, "cart-1") == restarted.handle);
  BOOST_CHECK_EQUAL(dynamic_count(host), 1u);
  BOOST_CHECK(!has_event(ended_atom::value));
}

BOOST_FIXTURE_TEST_CASE(
    normal_end_of_a_transient_dynamic_child_is_reported_and_not_restarted,
    fixture) {
  auto host = spawn_host({}, worker_template(observer));
  auto c1 = start_dynamic(host, "cart-1");
  take_started("cart-1");
  finish(c1);
  auto ended = take(ended_atom::value, "cart-1");
  BOOST_CHECK(!ended.reason);
  BOOST_CHECK(!child(host, "cart-1"));
  BOOST_CHECK_EQUAL(dynamic_count(host), 0u);
  BOOST_CHECK(!has_event(restarted_atom::value, "cart-1"));
  BOOST_CHECK(!has_event(started_atom::value, "cart-1"));
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
  auto again = take(restarted_atom::value, "cart-1").handle;
  BOOST_CHECK(!has_event(gave_up_atom::value));
  crash(again);
  auto gave_up = take(gave_up_atom::value, "cart-1");
  BOOST_CHECK(gave_up.reason == caf::exit_reason::unhandled_exception);
  BOOST_CHECK(!child(host, "cart-1"));
  BOOST_CHECK(child(host, "cart-2") == c2);
  BOOST_CHECK_EQUAL(dynamic_count(host), 1u);
  BOOST_CHECK(!is_down(host));
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
  send_exit(host, caf::exit_reason::user_shutdown);
  auto d1 = take(stopped_atom::value, "cart-1");
  auto d2 = take(stopped_atom::value, "cart-2");
  auto s2 = take(stopped_atom::value, "s2");
  auto s1 = take(stopped_atom::value, "s1");
  BOOST_CHECK_LT(d1.seq, s2.seq);
  BOOST_CHECK_LT(d2.seq, s2.seq);
  BOOST_CHECK_LT(s2.seq, s1.seq);
  take(ended_atom::value, "cart-1");
  take(ended_atom::value, "cart-2");
  BOOST_CHECK(take_down(host) == caf::exit_reason::user_shutdown);
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
  send_exit(host, caf::exit_reason::user_shutdown);
  std::deque<std::string> stopping;
  for (auto& x : take_all(stopped_atom::value))
    stopping.push_back(x.id);
  BOOST_CHECK_EQUAL(stopping.size(), 2u);
  size_t asked = stopping.size();
  while (!stopping.empty()) {
    auto id = stopping.front();
    stopping.pop_front();
    BOOST_CHECK(!has_event(ended_atom::value, id));
    finish(carts[id]);
    take(ended_atom::value, id);
    // One ended, so one more (if any is left) is asked to stop.
    auto next = take_all(stopped_atom::value);
    BOOST_CHECK_EQUAL(next.size(), asked < carts.size() ? 1u : 0u);
    for (auto& x : next)
      stopping.push_back(x.id);
    asked += next.size();
    BOOST_CHECK_LE(stopping.size(), 2u);
  }
  BOOST_CHECK_EQUAL(asked, carts.size());
  BOOST_CHECK(take_down(host) == caf::exit_reason::user_shutdown);
}

//   host (dynamic shutdown time 1 s)
//    +-- cart-1   <- ignores the exit: killed after 1 s
BOOST_FIXTURE_TEST_CASE(dynamic_children_left_after_their_shutdown_are_killed,
                        fixture) {
  auto tpl = worker_template(observer, exit_mode::ignore);
  tpl.shutdown = 1s;
  auto host = spawn_host({}, tpl);
  auto c1 = start_dynamic(host, "cart-1");
  watch(c1);
  send_exit(host, caf::exit_reason::user_shutdown);
  advance(999ms);
  BOOST_CHECK(!is_down(c1));
  BOOST_CHECK(!is_down(host));
  advance(1ms);
  BOOST_CHECK(take_down(c1) == caf::exit_reason::kill);
  take(ended_atom::value, "cart-1");
  BOOST_CHECK(take_down(host) == caf::exit_reason::user_shutdown);
}

//   host
//    +-- slow     <- static, ignores the exit: keeps the host shutting down
//    +-- cart-1   <- dynamic, stopped first
BOOST_FIXTURE_TEST_CASE(no_dynamic_child_starts_during_shutdown, fixture) {
  auto slow = worker_spec("slow", observer, sup::restart_type::permanent,
                          exit_mode::ignore);
  slow.shutdown = caf::timespan{std::chrono::hours{1}};
  auto host = spawn_host({slow}, worker_template(observer));
  auto x = take_started("slow");
  watch(x);
  start_dynamic(host, "cart-1");
  take_started("cart-1");
  send_exit(host, caf::exit_reason::user_shutdown);
  take(ended_atom::value, "cart-1");
  BOOST_CHECK(!start_dynamic(host, "cart-2"));
  BOOST_CHECK_EQUAL(dynamic_count(host), 0u);
  BOOST_CHECK(!has_event(started_atom::value));
  send_exit(host, caf::exit_reason::kill);
  BOOST_CHECK(take_down(x) == caf::exit_reason::kill);
}

BOOST_FIXTURE_TEST_CASE(host_can_begin_the_ordered_shutdown_itself, fixture) {
  auto host =
      spawn_host({worker_spec("s1", observer)}, worker_template(observer));
  start_dynamic(host, "cart-1");
  self->send(host, caf::delete_atom::value);
  run();
  auto d1 = take(stopped_atom::value, "cart-1");
  auto s1 = take(stopped_atom::value, "s1");
  BOOST_CHECK_LT(d1.seq, s1.seq);
  BOOST_CHECK(take_down(host) == caf::exit_reason::user_shutdown);
}
