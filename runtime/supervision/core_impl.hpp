#pragma once

// Internal to runtime/supervision: the state of a supervisor_core and the
// member functions that implement its policy. They are spread over one file
// per concern:
//
//   host_glue.cpp       init, the handlers installed on the host actor
//                       (down, exit, error, default with the timers) and
//                       supervisor_core's public members
//   static_policy.cpp   starting static children, restarts by strategy,
//                       intensity and escalation
//   dynamic_policy.cpp  starting dynamic children, their restarts and their
//                       per-child budget
//   shutdown.cpp        the ordered shutdown, its kill timers, and killing
//                       everything when the host dies
//
// All of it runs inside the host actor (kill_all after it terminated).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/fwd.hpp>
#include <caf/system_messages.hpp>
#include <caf/timespan.hpp>

#include "runtime/supervision/dynamic_children.hpp"
#include "runtime/supervision/supervisor.hpp"

namespace cartd::supervision {

namespace detail {

/// Timer tag: the static child whose actor id is the timer's argument had
/// its `shutdown` time to stop; kill it if it still runs.
constexpr caf::atom_value kill_static_timer = caf::atom("sup_kill");

/// Timer tag: the dynamic children had their `shutdown` time; kill all that
/// are left (the argument is unused).
constexpr caf::atom_value kill_dynamic_timer = caf::atom("sup_dkill");

/// Records a restart at `now` in a sliding window of restart times and
/// returns whether the budget still holds (at most `limit.max_restarts`
/// restarts within `limit.period`). The window keeps at most
/// `max_restarts + 1` entries, and none for a child that never restarted.
bool record_restart(std::vector<time_point>& history, const intensity& limit,
                    time_point now);

/// Whether a child of restart type `type` that ended with `reason` is
/// restarted.
bool should_restart(restart_type type, const caf::error& reason);

} // namespace detail

struct supervisor_core::impl {
  using dynamic_children = detail::dynamic_children;
  using time_point = detail::time_point;

  enum class phase : uint8_t {
    /// Not running: not started yet, ended, or waiting for its restart.
    down,
    running,
    /// Asked to stop (user_shutdown); a kill timer is pending.
    stopping,
  };

  struct static_child {
    child_spec spec;
    child_handle handle;
    phase state = phase::down;
    /// Stop it as part of a group restart (one_for_all, rest_for_one).
    bool stop_requested = false;
    /// Start it again once no child of the group is running or stopping.
    bool restart_pending = false;
    /// A temporary child that ended: never started again.
    bool removed = false;
  };

  /// Finds running static children started before `limit`.
  class earlier_siblings : public children_view {
  public:
    earlier_siblings(const impl& owner, size_t limit)
        : owner_(owner), limit_(limit) {
      // nop
    }

    child_handle find_child(const std::string& id) const override;

  private:
    const impl& owner_;
    size_t limit_;
  };

  impl(supervisor_flags flags, std::vector<child_spec> specs,
       dynamic_child_template dynamic, dynamic_child_hooks hooks);

  // -- state ------------------------------------------------------------------

  caf::event_based_actor* self = nullptr;
  std::string label;
  supervisor_flags flags;
  std::vector<static_child> children;
  std::vector<time_point> static_restarts;
  dynamic_child_template dynamic_tpl;
  dynamic_child_hooks hooks;
  dynamic_children dynamic;
  bool shutting_down = false;
  caf::error shutdown_reason;
  /// Dynamic children not yet asked to stop (shutdown asks a window of them
  /// at a time).
  std::vector<caf::actor> stop_backlog;
  /// Dynamic children asked to stop whose down_msg has not arrived yet.
  std::unordered_set<caf::actor_id> stopping_dynamic;
  /// The exit reason the backlog is sent: user_shutdown, kill once the
  /// dynamic shutdown time has passed.
  caf::exit_reason stop_reason = caf::exit_reason::user_shutdown;

  // -- utility ----------------------------------------------------------------

  std::string render(const caf::error& x) const;

  /// The running or stopping static child whose incarnation is `aid`.
  static_child* find_static(caf::actor_id aid);

  // -- host glue (host_glue.cpp) ----------------------------------------------

  void init(caf::event_based_actor* host, const std::shared_ptr<impl>& me);

  void install_handlers(const std::shared_ptr<impl>& me);

  /// Handles the core's own timers; false for any other message.
  bool on_timer(caf::scheduled_actor* ptr, caf::message_view& msg);

  void on_exit(caf::exit_msg& msg);

  void on_down(caf::down_msg& msg);

  // -- static children (static_policy.cpp) ------------------------------------

  /// Starts static child `index`; false if its start failed.
  bool start_static(size_t index);

  void on_static_down(static_child& child, const caf::error& reason);

  /// Stops the group one child at a time in reverse start order, then starts
  /// all pending children in start order.
  void advance_restart();

  void begin_stop(static_child& child);

  void escalate();

  // -- dynamic children (dynamic_policy.cpp) ----------------------------------

  caf::actor start_dynamic_child(const std::string& id);

  caf::actor start_dynamic(const std::string& id);

  /// The child in slot `x` ended (its handle is already cleared).
  void on_dynamic_down(dynamic_children::slot x, const caf::error& reason);

  // -- shutdown (shutdown.cpp) ------------------------------------------------

  /// Schedules the kill timer (tag, arg) after `timeout` (through the
  /// host's default handler, see caf_shims). Returns false if the caller
  /// should kill at once.
  bool schedule_kill(caf::timespan timeout, caf::atom_value tag, uint64_t arg);

  void begin_shutdown(caf::error reason);

  /// Asks the next dynamic child of the backlog to stop.
  void stop_next_dynamic();

  /// Waits for the dynamic children, then stops the static ones one at a
  /// time in reverse start order, then quits.
  void advance_shutdown();

  /// The kill timer of the static child `aid` fired.
  void on_kill_static(caf::actor_id aid);

  /// The kill timer of the dynamic children fired.
  void on_kill_dynamic();

  /// Runs after the actor terminated: no member function runs concurrently.
  void kill_all();
};

} // namespace cartd::supervision
