#include "runtime/supervision/supervisor.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message_view.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/type_erased_tuple.hpp>

#include "runtime/core/log.hpp"

namespace cartd::supervision {

namespace {

/// Sent to self: the static child with this actor id had `shutdown` time to
/// stop; kill it if it still runs. Content: (atom, uint64_t actor id).
using kill_static_atom = caf::atom_constant<caf::atom("sup_kill")>;

/// Sent to self: the dynamic children had their `shutdown` time; kill all
/// that are left. Content: (atom).
using kill_dynamic_atom = caf::atom_constant<caf::atom("sup_dkill")>;

using time_point = caf::actor_clock::time_point;

/// Records a restart at `now` in a sliding window of restart times and
/// returns whether the budget still holds (at most `limit.max_restarts`
/// restarts within `limit.period`). The window keeps at most
/// `max_restarts + 1` entries, and none for a child that never restarted.
bool record_restart(std::vector<time_point>& history, const intensity& limit,
                    time_point now) {
  auto horizon = now - limit.period;
  auto first = history.begin();
  while (first != history.end() && *first <= horizon)
    ++first;
  history.erase(history.begin(), first);
  history.push_back(now);
  return history.size() <= limit.max_restarts;
}

bool should_restart(restart_type type, const caf::error& reason) {
  switch (type) {
  case restart_type::permanent:
    return true;
  case restart_type::transient:
    return reason && reason != caf::exit_reason::user_shutdown;
  case restart_type::temporary:
    return false;
  }
  return false;
}

/// The dynamic children of one supervisor. A cart shard may hold hundreds of
/// thousands, so the bookkeeping per child is kept small: one slot per child
/// in a vector (no allocation per child; freed slots are reused) and two
/// open-addressing indexes of slot numbers, by child id and by the actor id
/// of the child's current incarnation. About 40 B per child plus 2 x 4 B
/// per index cell (load factor 3/8 to 3/4), where a node-based map per key
/// costs about 150 B. Slot numbers stay valid while other children are
/// added or removed; references into the table do not.
class dynamic_children {
public:
  using slot = uint32_t;

  /// No slot.
  static constexpr slot none = std::numeric_limits<slot>::max();

  size_t size() const noexcept {
    return by_id_.size();
  }

  bool empty() const noexcept {
    return size() == 0;
  }

  /// The slot of the child `id`, or `none`.
  slot find(const std::string& id) const {
    return by_id_.find(hash(id), [&](slot x) { return slots_[x].id == id; });
  }

  /// The slot of the child whose current incarnation is `aid`, or `none`.
  slot find_by_aid(caf::actor_id aid) const {
    return by_aid_.find(hash(aid),
                        [&](slot x) { return slots_[x].handle.id() == aid; });
  }

  const std::string& id(slot x) const {
    return slots_[x].id;
  }

  /// The current incarnation; invalid between incarnations.
  const caf::actor& handle(slot x) const {
    return slots_[x].handle;
  }

  /// Restart times of the child within its window (kept aside: most
  /// children never restart).
  std::vector<time_point>& restarts(slot x) {
    return restarts_[x];
  }

  /// Adds the child `id` (not present yet) without an incarnation.
  slot add(const std::string& id) {
    slot x;
    if (!free_.empty()) {
      x = free_.back();
      free_.pop_back();
      slots_[x].id = id;
    } else {
      if (slots_.size() >= none)
        throw std::length_error("too many dynamic children");
      x = static_cast<slot>(slots_.size());
      slots_.push_back(entry{id, {}});
    }
    by_id_.insert(x, hash(id), [this](slot y) { return hash_of_id(y); });
    return x;
  }

  /// Replaces the current incarnation of `x` (`handle` may be invalid).
  void set_handle(slot x, caf::actor handle) {
    auto hash_of = [this](slot y) { return hash_of_aid(y); };
    auto& e = slots_[x];
    if (e.handle)
      by_aid_.erase(x, hash(e.handle.id()), hash_of);
    e.handle = std::move(handle);
    if (e.handle)
      by_aid_.insert(x, hash(e.handle.id()), hash_of);
  }

  /// Removes the child in `x`.
  void remove(slot x) {
    set_handle(x, nullptr);
    auto& e = slots_[x];
    by_id_.erase(x, hash(e.id), [this](slot y) { return hash_of_id(y); });
    std::string{}.swap(e.id);
    restarts_.erase(x);
    free_.push_back(x);
  }

  /// Calls `f(slot)` for every child.
  template <class F>
  void for_each(F f) const {
    by_id_.for_each(f);
  }

  /// Removes all children and frees the memory.
  void clear() {
    std::vector<entry>{}.swap(slots_);
    std::vector<slot>{}.swap(free_);
    restarts_.clear();
    by_id_.clear();
    by_aid_.clear();
  }

private:
  struct entry {
    std::string id;
    caf::actor handle;
  };

  /// A set of slot numbers: linear probing, backward-shift deletion (no
  /// tombstones), at most 3/4 full. Keys live in the slots; callers pass
  /// hashes and matchers.
  class index {
  public:
    size_t size() const noexcept {
      return size_;
    }

    template <class Match>
    slot find(size_t h, Match match) const {
      if (cells_.empty())
        return none;
      for (auto i = h & mask();; i = (i + 1) & mask()) {
        auto x = cells_[i];
        if (x == none || match(x))
          return x;
      }
    }

    template <class HashOf>
    void insert(slot x, size_t h, HashOf hash_of) {
      if ((size_ + 1) * 4 > cells_.size() * 3) {
        std::vector<slot> old(std::max<size_t>(cells_.size() * 2, 16), none);
        old.swap(cells_);
        for (auto y : old)
          if (y != none)
            place(y, hash_of(y));
      }
      place(x, h);
      ++size_;
    }

    template <class HashOf>
    void erase(slot x, size_t h, HashOf hash_of) {
      auto i = h & mask();
      while (cells_[i] != x)
        i = (i + 1) & mask();
      // Shift back later cells of the probe sequence that may not sit past
      // the hole.
      for (auto j = (i + 1) & mask(); cells_[j] != none; j = (j + 1) & mask()) {
        auto home = hash_of(cells_[j]) & mask();
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
          cells_[i] = cells_[j];
          i = j;
        }
      }
      cells_[i] = none;
      --size_;
    }

    template <class F>
    void for_each(F& f) const {
      for (auto x : cells_)
        if (x != none)
          f(x);
    }

    void clear() {
      std::vector<slot>{}.swap(cells_);
      size_ = 0;
    }

  private:
    size_t mask() const noexcept {
      return cells_.size() - 1;
    }

    void place(slot x, size_t h) {
      auto i = h & mask();
      while (cells_[i] != none)
        i = (i + 1) & mask();
      cells_[i] = x;
    }

    std::vector<slot> cells_;
    size_t size_ = 0;
  };

  static size_t hash(const std::string& id) {
    return std::hash<std::string>{}(id);
  }

  static size_t hash(caf::actor_id aid) {
    // Actor ids are consecutive numbers: spread them.
    uint64_t h = aid * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h ^ (h >> 32));
  }

  size_t hash_of_id(slot x) const {
    return hash(slots_[x].id);
  }

  size_t hash_of_aid(slot x) const {
    return hash(slots_[x].handle.id());
  }

  std::vector<entry> slots_;
  std::vector<slot> free_;
  std::unordered_map<slot, std::vector<time_point>> restarts_;
  index by_id_;
  index by_aid_;
};

const char* to_string(strategy x) {
  switch (x) {
  case strategy::one_for_one:
    return "one_for_one";
  case strategy::one_for_all:
    return "one_for_all";
  case strategy::rest_for_one:
    return "rest_for_one";
  }
  return "unknown";
}

} // namespace

// -- errors -------------------------------------------------------------------

const char* to_string(supervision_errc x) noexcept {
  switch (x) {
  case supervision_errc::none:
    return "none";
  case supervision_errc::intensity_exceeded:
    return "intensity_exceeded";
  case supervision_errc::start_failed:
    return "start_failed";
  }
  return "unknown";
}

caf::error make_error(supervision_errc x) {
  return {static_cast<uint8_t>(x), caf::atom("supervisor")};
}

void add_supervision_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(
      caf::atom("supervisor"),
      [](uint8_t code, caf::atom_value, const caf::message& ctx) {
        std::string result = "supervisor_error(";
        result += to_string(static_cast<supervision_errc>(code));
        if (!ctx.empty()) {
          result += ", ";
          result += to_string(ctx);
        }
        result += ')';
        return result;
      });
}

children_view::~children_view() = default;

// -- supervisor_core::impl ----------------------------------------------------

struct supervisor_core::impl {
  enum class phase : uint8_t {
    /// Not running: not started yet, ended, or waiting for its restart.
    down,
    running,
    /// Asked to stop (user_shutdown); a kill timer is pending.
    stopping,
  };

  struct static_child {
    child_spec spec;
    caf::actor handle;
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

    caf::actor find(const std::string& id) const override {
      for (size_t i = 0; i < limit_; ++i) {
        auto& child = owner_.children[i];
        if (child.spec.id == id && child.state != phase::down)
          return child.handle;
      }
      return {};
    }

  private:
    const impl& owner_;
    size_t limit_;
  };

  impl(supervisor_flags flags, std::vector<child_spec> specs,
       dynamic_child_template dynamic, dynamic_child_hooks hooks)
      : flags(flags), dynamic_tpl(std::move(dynamic)), hooks(std::move(hooks)) {
    children.reserve(specs.size());
    for (auto& spec : specs)
      children.push_back(static_child{std::move(spec), {}});
  }

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

  std::string render(const caf::error& x) const {
    return self->system().render(x);
  }

  static_child* find_static(caf::actor_id aid) {
    for (auto& child : children)
      if (child.state != phase::down && child.handle.id() == aid)
        return &child;
    return nullptr;
  }

  /// Schedules a kill of whatever is still running after `timeout`. Returns
  /// false if the caller should kill at once.
  template <class... Ts>
  bool schedule_kill(caf::timespan timeout, Ts... xs) {
    if (timeout <= caf::timespan::zero())
      return false;
    if (timeout != caf::timespan::max())
      self->delayed_send(self, timeout, xs...);
    return true;
  }

  // -- starting ---------------------------------------------------------------

  caf::actor start_static(size_t index) {
    auto& child = children[index];
    caf::actor handle;
    earlier_siblings siblings{*this, index};
    try {
      if (child.spec.start)
        handle = child.spec.start(self, siblings);
    } catch (const std::exception& e) {
      cartd::log().error("supervisor {}: start of child '{}' threw: {}", label,
                         child.spec.id, e.what());
      return {};
    } catch (...) {
      cartd::log().error("supervisor {}: start of child '{}' threw", label,
                         child.spec.id);
      return {};
    }
    if (!handle) {
      cartd::log().error("supervisor {}: start of child '{}' returned no actor",
                         label, child.spec.id);
      return {};
    }
    child.handle = handle;
    child.state = phase::running;
    self->monitor(handle);
    return handle;
  }

  caf::actor start_dynamic_child(const std::string& id) {
    caf::actor handle;
    try {
      if (dynamic_tpl.start)
        handle = dynamic_tpl.start(self, id);
    } catch (const std::exception& e) {
      cartd::log().warn("supervisor {}: start of dynamic child '{}' threw: {}",
                        label, id, e.what());
      return {};
    } catch (...) {
      cartd::log().warn("supervisor {}: start of dynamic child '{}' threw",
                        label, id);
      return {};
    }
    if (!handle) {
      cartd::log().warn(
          "supervisor {}: start of dynamic child '{}' returned no "
          "actor",
          label, id);
      return {};
    }
    self->monitor(handle);
    return handle;
  }

  void init(caf::event_based_actor* host, const std::shared_ptr<impl>& me) {
    if (self != nullptr) {
      cartd::log().error("supervisor {}: init called twice; ignored", label);
      return;
    }
    self = host;
    label = std::string{host->name()} + "#" + std::to_string(host->id());
    install_handlers(me);
    for (size_t i = 0; i < children.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (children[j].spec.id == children[i].spec.id) {
          cartd::log().error("supervisor {}: duplicate child id '{}'", label,
                             children[i].spec.id);
          begin_shutdown(make_error(supervision_errc::start_failed));
          return;
        }
      }
      if (!start_static(i)) {
        begin_shutdown(make_error(supervision_errc::start_failed));
        return;
      }
    }
  }

  void install_handlers(const std::shared_ptr<impl>& me) {
    self->set_down_handler(
        [me](caf::scheduled_actor*, caf::down_msg& msg) { me->on_down(msg); });
    self->set_exit_handler(
        [me](caf::scheduled_actor*, caf::exit_msg& msg) { me->on_exit(msg); });
    self->set_error_handler([me](caf::scheduled_actor*, caf::error& err) {
      cartd::log().warn("supervisor {}: ignored error message: {}", me->label,
                        me->render(err));
    });
    self->set_default_handler(
        [me](caf::scheduled_actor* ptr,
             caf::message_view& msg) -> caf::result<caf::message> {
          if (me->on_timer(ptr, msg.content()))
            return caf::message{};
          cartd::log().debug("supervisor {}: dropped unexpected message {}",
                             me->label, msg.content().stringify());
          // An empty message is never sent back for an asynchronous message,
          // whereas an error would be and would kill a sender that does not
          // expect it (caf::drop returns one).
          if (ptr->current_message_id().is_request())
            return caf::sec::unexpected_message;
          return caf::message{};
        });
    // Monitors do not take children down with us. The state (and this
    // core) is gone by the time CAF runs attached functors, hence the
    // shared pointer.
    self->attach_functor([me](const caf::error&) { me->kill_all(); });
  }

  /// Runs after the actor terminated: no member function runs concurrently.
  void kill_all() {
    for (auto& child : children)
      if (child.state != phase::down && child.handle)
        caf::anon_send_exit(child.handle, caf::exit_reason::kill);
    dynamic.for_each([this](dynamic_children::slot x) {
      if (auto& handle = dynamic.handle(x))
        caf::anon_send_exit(handle, caf::exit_reason::kill);
    });
    // The actor's handlers keep this object until the actor is destroyed.
    // Drop what could hold a handle to that actor (a start function or hook
    // capturing it would otherwise form a cycle that never frees it).
    children.clear();
    dynamic.clear();
    dynamic_tpl = dynamic_child_template{};
    hooks = dynamic_child_hooks{};
  }

  // -- message handling -------------------------------------------------------

  bool on_timer(caf::scheduled_actor* ptr, caf::type_erased_tuple& xs) {
    if (ptr->current_sender() == nullptr || ptr->current_sender()->get() != ptr)
      return false;
    if (xs.match_elements<caf::atom_value, uint64_t>() &&
        xs.get_as<caf::atom_value>(0) == kill_static_atom::value) {
      auto child = find_static(xs.get_as<uint64_t>(1));
      if (child != nullptr && child->state == phase::stopping) {
        cartd::log().warn(
            "supervisor {}: child '{}' did not stop within {} ms; "
            "killing it",
            label, child->spec.id,
            std::chrono::duration_cast<std::chrono::milliseconds>(
                child->spec.shutdown)
                .count());
        self->send_exit(child->handle, caf::exit_reason::kill);
      }
      return true;
    }
    if (xs.match_elements<caf::atom_value>() &&
        xs.get_as<caf::atom_value>(0) == kill_dynamic_atom::value) {
      if (!dynamic.empty()) {
        cartd::log().warn("supervisor {}: {} dynamic children did not stop in "
                          "time; killing them",
                          label, dynamic.size());
        stop_reason = caf::exit_reason::kill;
        for (auto aid : stopping_dynamic)
          if (auto x = dynamic.find_by_aid(aid); x != dynamic_children::none)
            self->send_exit(dynamic.handle(x), stop_reason);
      }
      return true;
    }
    return false;
  }

  void on_exit(caf::exit_msg& msg) {
    // Like CAF's default exit handler, a normal exit of a linked actor does
    // not stop us. Supervisors stop their children with user_shutdown.
    if (!msg.reason)
      return;
    // A start function may have linked a child; its down_msg handles that.
    auto aid = msg.source.id();
    if (find_static(aid) != nullptr
        || dynamic.find_by_aid(aid) != dynamic_children::none)
      return;
    begin_shutdown(std::move(msg.reason));
  }

  void on_down(caf::down_msg& msg) {
    auto aid = msg.source.id();
    if (auto child = find_static(aid)) {
      on_static_down(*child, msg.reason);
      return;
    }
    if (auto x = dynamic.find_by_aid(aid); x != dynamic_children::none) {
      dynamic.set_handle(x, nullptr);
      bool asked = stopping_dynamic.erase(aid) > 0;
      on_dynamic_down(x, msg.reason);
      if (asked)
        stop_next_dynamic();
      return;
    }
    cartd::log().debug("supervisor {}: ignored down_msg of a non-child", label);
  }

  // -- static children --------------------------------------------------------

  void on_static_down(static_child& child, const caf::error& reason) {
    bool expected = child.state == phase::stopping || child.stop_requested;
    child.handle = nullptr;
    child.state = phase::down;
    child.stop_requested = false;
    if (child.spec.restart == restart_type::temporary)
      child.removed = true;
    if (shutting_down) {
      advance_shutdown();
      return;
    }
    if (expected) {
      advance_restart();
      return;
    }
    if (!should_restart(child.spec.restart, reason)) {
      cartd::log().info("supervisor {}: child '{}' ended ({}); not restarted",
                        label, child.spec.id, render(reason));
      return;
    }
    cartd::log().info("supervisor {}: child '{}' ended ({}); restarting ({})",
                      label, child.spec.id, render(reason),
                      to_string(flags.how));
    if (!record_restart(static_restarts, flags.limit, self->clock().now())) {
      escalate();
      return;
    }
    auto index = static_cast<size_t>(&child - children.data());
    child.restart_pending = true;
    size_t first = 0;
    size_t last = children.size();
    if (flags.how == strategy::one_for_one)
      last = index + 1;
    if (flags.how != strategy::one_for_all)
      first = index;
    for (auto i = first; i < last; ++i) {
      auto& sibling = children[i];
      if (i == index || sibling.removed)
        continue;
      if (sibling.state == phase::running)
        sibling.stop_requested = true;
      sibling.restart_pending = sibling.spec.restart != restart_type::temporary;
    }
    advance_restart();
  }

  /// Stops the group one child at a time in reverse start order, then starts
  /// all pending children in start order.
  void advance_restart() {
    if (shutting_down)
      return;
    for (auto i = children.rbegin(); i != children.rend(); ++i)
      if (i->state == phase::stopping)
        return;
    for (auto i = children.rbegin(); i != children.rend(); ++i) {
      if (i->stop_requested && i->state == phase::running) {
        begin_stop(*i);
        return;
      }
    }
    for (size_t i = 0; i < children.size(); ++i) {
      if (!children[i].restart_pending)
        continue;
      children[i].restart_pending = false;
      // A failed attempt counts toward the intensity, so this ends.
      while (!start_static(i)) {
        if (!record_restart(static_restarts, flags.limit,
                            self->clock().now())) {
          escalate();
          return;
        }
      }
      cartd::log().info("supervisor {}: restarted child '{}'", label,
                        children[i].spec.id);
    }
  }

  void begin_stop(static_child& child) {
    child.state = phase::stopping;
    child.stop_requested = false;
    if (schedule_kill(child.spec.shutdown, kill_static_atom::value,
                      static_cast<uint64_t>(child.handle.id())))
      self->send_exit(child.handle, caf::exit_reason::user_shutdown);
    else
      self->send_exit(child.handle, caf::exit_reason::kill);
  }

  void escalate() {
    cartd::log().warn(
        "supervisor {}: more than {} restarts within {} ms; giving up", label,
        flags.limit.max_restarts,
        std::chrono::duration_cast<std::chrono::milliseconds>(
            flags.limit.period)
            .count());
    begin_shutdown(make_error(supervision_errc::intensity_exceeded));
  }

  // -- dynamic children -------------------------------------------------------

  caf::actor start_dynamic(const std::string& id) {
    if (shutting_down || self == nullptr)
      return {};
    if (auto x = dynamic.find(id); x != dynamic_children::none)
      return dynamic.handle(x);
    auto handle = start_dynamic_child(id);
    if (!handle)
      return {};
    if (auto x = dynamic.find(id); x != dynamic_children::none) {
      // The start function itself started `id`: keep that incarnation.
      caf::anon_send_exit(handle, caf::exit_reason::kill);
      return dynamic.handle(x);
    }
    dynamic.set_handle(dynamic.add(id), handle);
    return handle;
  }

  /// The child in slot `x` ended (its handle is already cleared).
  void on_dynamic_down(dynamic_children::slot x, const caf::error& reason) {
    // A copy: the slot goes before the hooks run.
    std::string id = dynamic.id(x);
    auto stopped = [&] {
      dynamic.remove(x);
      if (hooks.on_stopped)
        hooks.on_stopped(id, reason);
    };
    if (shutting_down) {
      stopped();
      advance_shutdown();
      return;
    }
    if (!should_restart(dynamic_tpl.restart, reason)) {
      if (reason)
        cartd::log().info("supervisor {}: dynamic child '{}' ended ({}); not "
                          "restarted",
                          label, id, render(reason));
      stopped();
      return;
    }
    // Slot numbers stay valid even if a start function adds children;
    // references into the table would not.
    auto last_reason = reason;
    for (;;) {
      if (!record_restart(dynamic.restarts(x), dynamic_tpl.dynamic_intensity,
                          self->clock().now())) {
        cartd::log().warn(
            "supervisor {}: dynamic child '{}' ended ({}) more than "
            "{} times within {} ms; giving up",
            label, id, render(last_reason),
            dynamic_tpl.dynamic_intensity.max_restarts,
            std::chrono::duration_cast<std::chrono::milliseconds>(
                dynamic_tpl.dynamic_intensity.period)
                .count());
        dynamic.remove(x);
        if (hooks.on_give_up)
          hooks.on_give_up(id, last_reason);
        return;
      }
      if (auto handle = start_dynamic_child(id)) {
        dynamic.set_handle(x, handle);
        cartd::log().info(
            "supervisor {}: dynamic child '{}' ended ({}); restarted", label,
            id, render(reason));
        if (hooks.on_restarted)
          hooks.on_restarted(id, handle);
        return;
      }
      last_reason = make_error(supervision_errc::start_failed);
    }
  }

  // -- shutdown ---------------------------------------------------------------

  void begin_shutdown(caf::error reason) {
    if (shutting_down)
      return;
    shutting_down = true;
    shutdown_reason = std::move(reason);
    cartd::log().debug("supervisor {}: shutting down ({})", label,
                      render(shutdown_reason));
    for (auto& child : children) {
      child.stop_requested = false;
      child.restart_pending = false;
    }
    if (!dynamic.empty()) {
      if (!schedule_kill(dynamic_tpl.shutdown, kill_dynamic_atom::value))
        stop_reason = caf::exit_reason::kill;
      stop_backlog.reserve(dynamic.size());
      dynamic.for_each([this](dynamic_children::slot x) {
        if (auto& handle = dynamic.handle(x))
          stop_backlog.push_back(handle);
      });
      auto window = std::max<size_t>(dynamic_tpl.stop_window, 1);
      for (size_t n = 0; n < window && !stop_backlog.empty(); ++n)
        stop_next_dynamic();
    }
    advance_shutdown();
  }

  /// Asks the next dynamic child of the backlog to stop.
  void stop_next_dynamic() {
    while (!stop_backlog.empty()) {
      auto handle = std::move(stop_backlog.back());
      stop_backlog.pop_back();
      // Skip children that already ended on their own.
      if (dynamic.find_by_aid(handle.id()) == dynamic_children::none)
        continue;
      stopping_dynamic.insert(handle.id());
      self->send_exit(handle, stop_reason);
      return;
    }
  }

  /// Waits for the dynamic children, then stops the static ones one at a
  /// time in reverse start order, then quits.
  void advance_shutdown() {
    if (!dynamic.empty())
      return;
    for (auto i = children.rbegin(); i != children.rend(); ++i)
      if (i->state == phase::stopping)
        return;
    for (auto i = children.rbegin(); i != children.rend(); ++i) {
      if (i->state == phase::running) {
        begin_stop(*i);
        return;
      }
    }
    cartd::log().debug("supervisor {}: stopped ({})", label,
                      render(shutdown_reason));
    self->quit(shutdown_reason);
  }
};

// -- supervisor_core ----------------------------------------------------------

supervisor_core::supervisor_core(supervisor_flags flags,
                                 std::vector<child_spec> children,
                                 dynamic_child_template dynamic,
                                 dynamic_child_hooks hooks)
    : impl_(std::make_shared<impl>(flags, std::move(children),
                                   std::move(dynamic), std::move(hooks))) {
  // nop
}

supervisor_core::~supervisor_core() = default;

void supervisor_core::init(caf::event_based_actor* self) {
  impl_->init(self, impl_);
}

caf::actor supervisor_core::start_dynamic(const std::string& id) {
  return impl_->start_dynamic(id);
}

caf::actor supervisor_core::find_dynamic(const std::string& id) const {
  auto x = impl_->dynamic.find(id);
  return x != dynamic_children::none ? impl_->dynamic.handle(x)
                                     : caf::actor{};
}

size_t supervisor_core::dynamic_count() const noexcept {
  return impl_->dynamic.size();
}

void supervisor_core::for_each_dynamic(
    const std::function<void(const std::string&, const caf::actor&)>& f)
    const {
  auto& dynamic = impl_->dynamic;
  dynamic.for_each([&](dynamic_children::slot x) {
    if (auto& handle = dynamic.handle(x))
      f(dynamic.id(x), handle);
  });
}

caf::actor supervisor_core::find(const std::string& id) const {
  for (auto& child : impl_->children)
    if (child.spec.id == id && child.state != impl::phase::down)
      return child.handle;
  return {};
}

bool supervisor_core::shutting_down() const noexcept {
  return impl_->shutting_down;
}

void supervisor_core::shutdown(caf::error reason) {
  if (impl_->self != nullptr)
    impl_->begin_shutdown(std::move(reason));
}

// -- supervisor actor ---------------------------------------------------------

namespace {

struct supervisor_state {
  std::unique_ptr<supervisor_core> core;
  static const char* name;
};

const char* supervisor_state::name = "cartd.supervisor";

caf::behavior supervisor_actor(caf::stateful_actor<supervisor_state>* self,
                               supervisor_flags flags,
                               std::vector<child_spec> children) {
  self->state.core =
      std::make_unique<supervisor_core>(flags, std::move(children));
  self->state.core->init(self);
  return {
      [=](caf::get_atom, const std::string& id) -> caf::actor {
        return self->state.core->find(id);
      },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_flags flags,
                            std::vector<child_spec> children) {
  return sys.spawn(supervisor_actor, flags, std::move(children));
}

start_fn supervisor_start(supervisor_flags flags,
                          std::vector<child_spec> children) {
  return [flags, children = std::move(children)](caf::event_based_actor* self,
                                                 const children_view&) {
    return self->spawn(supervisor_actor, flags, children);
  };
}

} // namespace cartd::supervision
