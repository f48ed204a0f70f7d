// Static children: starting them, restarting them by strategy, the restart
// intensity and escalation.

#include "runtime/supervision/core_impl.hpp"

#include <chrono>
#include <exception>

#include "runtime/core/log.hpp"

namespace cartd::supervision {

namespace detail {

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

} // namespace detail

namespace {

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

child_handle supervisor_core::impl::earlier_siblings::find_child(
    const std::string& id) const {
  for (size_t i = 0; i < limit_; ++i) {
    auto& child = owner_.children[i];
    if (child.spec.id == id && child.state != phase::down)
      return child.handle;
  }
  return {};
}

bool supervisor_core::impl::start_static(size_t index) {
  auto& child = children[index];
  child_handle handle;
  earlier_siblings siblings{*this, index};
  try {
    if (child.spec.start)
      handle = child.spec.start(self, siblings);
  } catch (const std::exception& e) {
    cartd::log().error("supervisor {}: start of child '{}' threw: {}", label,
                       child.spec.id, e.what());
    return false;
  } catch (...) {
    cartd::log().error("supervisor {}: start of child '{}' threw", label,
                       child.spec.id);
    return false;
  }
  if (!handle) {
    cartd::log().error("supervisor {}: start of child '{}' returned no actor",
                       label, child.spec.id);
    return false;
  }
  self->monitor(handle.untyped());
  child.handle = std::move(handle);
  child.state = phase::running;
  return true;
}

void supervisor_core::impl::on_static_down(static_child& child,
                                           const caf::error& reason) {
  bool expected = child.state == phase::stopping || child.stop_requested;
  child.handle = child_handle{};
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
  if (!detail::should_restart(child.spec.restart, reason)) {
    cartd::log().info("supervisor {}: child '{}' ended ({}); not restarted",
                      label, child.spec.id, render(reason));
    return;
  }
  cartd::log().info("supervisor {}: child '{}' ended ({}); restarting ({})",
                    label, child.spec.id, render(reason), to_string(flags.how));
  if (!detail::record_restart(static_restarts, flags.limit,
                              self->clock().now())) {
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

void supervisor_core::impl::advance_restart() {
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
      if (!detail::record_restart(static_restarts, flags.limit,
                                  self->clock().now())) {
        escalate();
        return;
      }
    }
    cartd::log().info("supervisor {}: restarted child '{}'", label,
                      children[i].spec.id);
  }
}

void supervisor_core::impl::begin_stop(static_child& child) {
  child.state = phase::stopping;
  child.stop_requested = false;
  if (schedule_kill(child.spec.shutdown, detail::kill_static_timer,
                    static_cast<uint64_t>(child.handle.untyped().id())))
    self->send_exit(child.handle.untyped(), caf::exit_reason::user_shutdown);
  else
    self->send_exit(child.handle.untyped(), caf::exit_reason::kill);
}

void supervisor_core::impl::escalate() {
  cartd::log().warn(
      "supervisor {}: more than {} restarts within {} ms; giving up", label,
      flags.limit.max_restarts,
      std::chrono::duration_cast<std::chrono::milliseconds>(flags.limit.period)
          .count());
  begin_shutdown(make_error(supervision_errc::intensity_exceeded));
}

} // namespace cartd::supervision
