#pragma once

// A generic supervisor with Erlang/OTP semantics, built from CAF 0.17 monitors
// and exit handlers (CAF has no supervision library).
//
// Two ways to use it:
//   * `spawn_supervisor(...)`: a plain supervisor actor over static children
//     (the node's root, the HTTP subsystem).
//   * `supervisor_core`: the same bookkeeping embedded in an actor that also
//     has a behavior of its own (a cart shard supervises its carts as dynamic
//     children and answers "resolve cart id" requests).
//
// Semantics
//   strategy      one_for_one  restart only the child that terminated
//                 one_for_all  stop all other static children (reverse
//                              start order), restart all in start order
//                 rest_for_one stop the static children started after it
//                              (reverse order), restart it and them in order
//   restart type  permanent    always restarted
//                 transient    restarted only after an abnormal exit (not
//                              normal / user_shutdown)
//                 temporary    never restarted
//   intensity     more than `max_restarts` restarts of static children within
//                 `period`: the supervisor stops all children (reverse start
//                 order) and quits with supervision_errc::intensity_exceeded,
//                 which its own parent sees as an abnormal exit (escalation).
//   shutdown      on an exit_msg (from its parent or anyone), the supervisor
//                 stops children in reverse start order: send_exit
//                 user_shutdown, wait for the down_msg up to the child's
//                 `shutdown` time, then kill; then it quits with that reason.
//   dynamic       children added at run time (carts). They are always
//   children      restarted one_for_one according to the dynamic template's
//                 restart type, and their intensity is counted per child: a
//                 child that exceeds `dynamic_intensity` is given up (not
//                 restarted, on_give_up is called) and the supervisor keeps
//                 running. A crash loop in one cart must never take down its
//                 neighbours, which a shared OTP-style counter would do. On
//                 shutdown dynamic children are stopped all at once, before
//                 the static children.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>

namespace cartd::supervision {

/// How the supervisor reacts to a static child's termination.
enum class strategy : uint8_t {
  /// Restart only the terminated child.
  one_for_one,
  /// Restart all static children.
  one_for_all,
  /// Restart the terminated child and those started after it.
  rest_for_one,
};

/// When a terminated child is restarted.
enum class restart_type : uint8_t {
  /// Always.
  permanent,
  /// Only after an abnormal exit.
  transient,
  /// Never.
  temporary,
};

/// Restart budget: at most `max_restarts` within `period`.
struct intensity {
  size_t max_restarts = 3;
  caf::timespan period = caf::timespan{std::chrono::seconds{5}};
};

/// Errors a supervisor exits with (category atom "supervisor").
enum class supervision_errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The restart intensity was exceeded; the supervisor gave up.
  intensity_exceeded,
  /// A child's start function failed (returned an invalid handle or threw).
  start_failed,
};

const char* to_string(supervision_errc x) noexcept;

caf::error make_error(supervision_errc x);

/// Lets a start function find the current handles of the siblings started
/// before it (useful with rest_for_one: a later child depends on earlier).
class children_view {
public:
  virtual ~children_view();

  /// Returns the running child with `id`, or an invalid handle.
  virtual caf::actor find(const std::string& id) const = 0;
};

/// Spawns a child (the supervisor is `self`) and returns its handle. An
/// invalid handle or an exception counts as a failed start.
using start_fn = std::function<caf::actor(caf::event_based_actor* self,
                                          const children_view& siblings)>;

/// A static child.
struct child_spec {
  std::string id;
  start_fn start;
  restart_type restart = restart_type::permanent;
  /// How long to wait for the child to exit on shutdown before killing it.
  caf::timespan shutdown = caf::timespan{std::chrono::seconds{5}};
};

/// Spawns a dynamic child named `id`.
using dynamic_start_fn
  = std::function<caf::actor(caf::event_based_actor* self,
                             const std::string& id)>;

/// How dynamic children are started and restarted.
struct dynamic_child_template {
  dynamic_start_fn start;
  restart_type restart = restart_type::transient;
  /// Per-child restart budget.
  intensity dynamic_intensity;
  caf::timespan shutdown = caf::timespan{std::chrono::seconds{5}};
};

/// Observer of dynamic children, called inside the supervising actor.
struct dynamic_child_hooks {
  /// A dynamic child terminated and will not be restarted (normal exit of a
  /// transient child, temporary child, ...). `reason` is its exit reason.
  std::function<void(const std::string& id, const caf::error& reason)>
    on_stopped;
  /// A dynamic child exceeded its restart budget and was given up.
  std::function<void(const std::string& id, const caf::error& reason)>
    on_give_up;
  /// A dynamic child was restarted; `child` is the new incarnation.
  std::function<void(const std::string& id, const caf::actor& child)>
    on_restarted;
};

/// Supervisor flags: strategy and restart intensity for static children.
struct supervisor_flags {
  strategy how = strategy::one_for_one;
  intensity limit;
};

/// The bookkeeping and policy of a supervisor, embeddable in any event-based
/// actor. All member functions must be called from inside that actor.
class supervisor_core {
public:
  supervisor_core(supervisor_flags flags, std::vector<child_spec> children,
                  dynamic_child_template dynamic = {},
                  dynamic_child_hooks hooks = {});

  ~supervisor_core();

  supervisor_core(const supervisor_core&) = delete;
  supervisor_core& operator=(const supervisor_core&) = delete;

  // -- lifecycle --------------------------------------------------------------

  /// Installs down/exit handlers on `self` and starts the static children in
  /// order. If a start fails, stops what was started and quits `self` with
  /// supervision_errc::start_failed. Call once, from the behavior factory.
  void init(caf::event_based_actor* self);

  // -- dynamic children -------------------------------------------------------

  /// Returns the running dynamic child `id`, starting it if needed. Returns
  /// an invalid handle if the start failed.
  caf::actor start_dynamic(const std::string& id);

  /// Returns the running dynamic child `id` or an invalid handle.
  caf::actor find_dynamic(const std::string& id) const;

  /// Number of running dynamic children.
  size_t dynamic_count() const noexcept;

  // -- static children --------------------------------------------------------

  /// Returns the running static child `id` or an invalid handle.
  caf::actor find(const std::string& id) const;

  /// True once shutdown began (no more restarts or starts).
  bool shutting_down() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Spawns a supervisor actor (a child of `parent`'s system) over `children`.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> children);

/// A start function that spawns a nested supervisor (for child_spec::start).
start_fn supervisor_start(supervisor_flags flags,
                          std::vector<child_spec> children);

} // namespace cartd::supervision
