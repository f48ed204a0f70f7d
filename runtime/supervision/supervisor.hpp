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
//                 A group restart also starts a non-temporary child of the
//                 group that had ended without restart (OTP does the same).
//                 A start function sees only earlier siblings.
//   restart type  permanent    always restarted
//                 transient    restarted only after an abnormal exit (not
//                              normal / user_shutdown)
//                 temporary    never restarted, not even when a sibling's
//                              failure made the supervisor stop it (OTP)
//   intensity     more than `max_restarts` restarts of static children within
//                 `period`: the supervisor stops all children (reverse start
//                 order) and quits with supervision_errc::intensity_exceeded,
//                 which its own parent sees as an abnormal exit (escalation).
//                 A restart whose start function fails counts too and is
//                 retried at once, so a child that cannot start escalates.
//   shutdown      on an exit_msg (from its parent or anyone; a normal reason
//                 is ignored, as CAF's default exit handler does), the
//                 supervisor stops children in reverse start order: send_exit
//                 user_shutdown, wait for the down_msg up to the child's
//                 `shutdown` time, then kill; then it quits with that reason.
//                 Meanwhile it keeps handling messages, restarts nothing and
//                 starts no dynamic child.
//   dynamic       children added at run time (carts). They are always
//   children      restarted one_for_one according to the dynamic template's
//                 restart type, and their intensity is counted per child: a
//                 child that exceeds `dynamic_intensity` is given up (not
//                 restarted, on_give_up is called) and the supervisor keeps
//                 running. A crash loop in one cart must never take down its
//                 neighbours, which a shared OTP-style counter would do. A
//                 failed restart counts toward the child's budget. On
//                 shutdown dynamic children are stopped before the static
//                 children, at most `stop_window` at a time: CAF 0.17's
//                 work-stealing queue steals from its tail in O(n), so
//                 scheduling 100k exiting actors at once takes minutes.
//                 Bookkeeping is about 50 B per dynamic child (no
//                 allocation per child): shards hold very many.
//   ownership     children are monitored, not linked. If the supervising
//                 actor terminates any other way (killed, an exception in
//                 its own handlers), an attached functor kills all children
//                 that are still running: no child outlives its supervisor.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

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

/// Registers a renderer for the "supervisor" error category, so that
/// `system.render(e)` prints e.g. `supervisor_error(intensity_exceeded)`.
/// Call from the composition root before creating the actor system.
void add_supervision_error_category(caf::actor_system_config& cfg);

/// The handle of a static child: an untyped `caf::actor` or any
/// `caf::typed_actor<...>`. It remembers which type the child was started
/// as, so that a typed lookup (`find<Handle>`) hands the child out only as
/// that type: a wiring mistake shows as an invalid handle and an error in
/// the log when the tree starts, not as an unexpected_message later.
class child_handle {
public:
  child_handle() noexcept = default;

  /// An untyped child.
  child_handle(caf::actor x) noexcept : actor_(std::move(x)) {
    // nop
  }

  /// A typed child.
  template <class... Sigs>
  child_handle(caf::typed_actor<Sigs...> x)
      : actor_(caf::actor_cast<caf::actor>(std::move(x))),
        type_(&typeid(caf::typed_actor<Sigs...>)) {
    // nop
  }

  explicit operator bool() const noexcept { return static_cast<bool>(actor_); }

  /// The child as an untyped handle (always possible).
  const caf::actor& untyped() const noexcept { return actor_; }

  /// The type the child was started as (`caf::actor` if untyped).
  const std::type_info& type() const noexcept { return *type_; }

  /// The child as `Handle`: as `caf::actor` always, as a typed handle only
  /// if it was started as exactly that type; otherwise an invalid handle.
  template <class Handle>
  Handle as() const {
    if constexpr (std::is_same_v<Handle, caf::actor>) {
      return actor_;
    } else {
      if (actor_ && *type_ == typeid(Handle))
        return caf::actor_cast<Handle>(actor_);
      return Handle{};
    }
  }

private:
  caf::actor actor_;
  const std::type_info* type_ = &typeid(caf::actor);
};

namespace detail {

/// Logs that child `id` of type `is` was looked up as `wanted`.
void log_type_mismatch(const std::string& id, const std::type_info& is,
                       const std::type_info& wanted);

template <class Handle>
Handle typed_child(const child_handle& child, const std::string& id) {
  auto result = child.as<Handle>();
  if (child && !result)
    log_type_mismatch(id, child.type(), typeid(Handle));
  return result;
}

} // namespace detail

/// Lets a start function find the current handles of the siblings started
/// before it (useful with rest_for_one: a later child depends on earlier).
class children_view {
public:
  virtual ~children_view();

  /// Returns the running child with `id`, or an invalid handle.
  virtual child_handle find_child(const std::string& id) const = 0;

  /// Returns the running child with `id` as an untyped handle, or an
  /// invalid handle.
  caf::actor find(const std::string& id) const {
    return find_child(id).untyped();
  }

  /// Returns the running child with `id` as `Handle`, or an invalid handle
  /// if there is none or it was started as another type (logged as an
  /// error). E.g. `siblings.find<journal_actor>("journal")`.
  template <class Handle>
  Handle find(const std::string& id) const {
    return detail::typed_child<Handle>(find_child(id), id);
  }
};

/// Spawns a child (the supervisor is `self`) and returns its handle, typed
/// or not. An invalid handle or an exception counts as a failed start.
using start_fn = std::function<child_handle(caf::event_based_actor* self,
                                            const children_view& siblings)>;

/// A static child.
struct child_spec {
  std::string id;
  start_fn start;
  restart_type restart = restart_type::permanent;
  /// How long to wait for the child to exit on shutdown before killing it.
  /// Zero (or less) kills at once; `caf::timespan::max()` waits forever.
  caf::timespan shutdown = caf::timespan{std::chrono::seconds{5}};
};

/// Spawns a dynamic child named `id`.
using dynamic_start_fn = std::function<caf::actor(caf::event_based_actor* self,
                                                  const std::string& id)>;

/// How dynamic children are started and restarted.
struct dynamic_child_template {
  dynamic_start_fn start;
  restart_type restart = restart_type::transient;
  /// Per-child restart budget.
  intensity dynamic_intensity;
  /// How long to wait on shutdown for all dynamic children together before
  /// killing those left (same special values as child_spec::shutdown).
  caf::timespan shutdown = caf::timespan{std::chrono::seconds{5}};
  /// How many dynamic children are asked to stop at the same time on
  /// shutdown; the next is asked when one has stopped.
  size_t stop_window = 256;
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
///
/// `init` takes over these handlers of the hosting actor; do not replace
/// them afterwards:
///   * down handler: down_msgs of children drive restarts; others are
///     ignored (logged at debug level).
///   * exit handler: an exit_msg with a non-normal reason, not sent by a
///     child, begins the ordered shutdown; the actor quits with its reason
///     once all children are gone.
///   * default handler: carries the core's own shutdown timers (messages
///     the actor sends itself); any other unexpected message is dropped
///     without bouncing an error to an asynchronous sender (a request gets
///     sec::unexpected_message).
///   * error handler: logs error messages instead of quitting.
/// The host must return a non-empty behavior (an empty one ends the actor)
/// without a catch-all handler (it would swallow the core's timers), and
/// keep the core alive as long as the actor runs (hold it in the state).
/// To stop gracefully from inside, call `shutdown`, never `quit`.
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

  /// Calls `f(id, child)` for every running dynamic child. `f` must not
  /// start dynamic children.
  void for_each_dynamic(
      const std::function<void(const std::string& id, const caf::actor& child)>&
          f) const;

  // -- static children --------------------------------------------------------

  /// Returns the running static child `id` or an invalid handle.
  caf::actor find(const std::string& id) const;

  /// Returns the running static child `id` as `Handle`, or an invalid
  /// handle if there is none or it was started as another type (logged as
  /// an error).
  template <class Handle>
  Handle find(const std::string& id) const {
    return detail::typed_child<Handle>(find_child(id), id);
  }

  /// Returns the running static child `id` with its type, or an invalid
  /// handle.
  child_handle find_child(const std::string& id) const;

  /// True once shutdown began (no more restarts or starts).
  bool shutting_down() const noexcept;

  /// Begins the ordered shutdown, as an exit_msg with `reason` would: the
  /// actor quits with `reason` once all children are gone. Repeated calls
  /// (and exit_msgs after the first) are ignored.
  void shutdown(caf::error reason);

private:
  struct impl;
  // Shared with the handlers installed on the actor and with the functor
  // attached to it: CAF destroys an actor's state before it runs attached
  // functors, and that functor still needs the set of children to kill.
  std::shared_ptr<impl> impl_;
};

/// Spawns a supervisor actor over `children` in `sys`.
///
/// Besides supervising, the actor answers one request, for tests and
/// diagnostics:
///
///   (get_atom, std::string id) -> caf::actor
///     the running static child `id`, or an invalid handle (not started,
///     not restarted, or in between incarnations)
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> children);

/// A start function that spawns a nested supervisor (for child_spec::start),
/// the same actor as `spawn_supervisor` makes.
start_fn supervisor_start(supervisor_flags flags,
                          std::vector<child_spec> children);

} // namespace cartd::supervision
