// The ordered shutdown: dynamic children first (a window at a time), then
// the static children in reverse start order, each with its kill timer; and
// killing every child when the host dies any other way.

#include "runtime/supervision/core_impl.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"

namespace cartd::supervision {

bool supervisor_core::impl::schedule_kill(caf::timespan timeout,
                                          caf::atom_value tag, uint64_t arg) {
  if (timeout <= caf::timespan::zero())
    return false;
  if (timeout != caf::timespan::max())
    caf_shims::send_self_timer(self, timeout, tag, arg);
  return true;
}

void supervisor_core::impl::begin_shutdown(caf::error reason) {
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
    if (!schedule_kill(dynamic_tpl.shutdown, detail::kill_dynamic_timer, 0))
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

void supervisor_core::impl::stop_next_dynamic() {
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

void supervisor_core::impl::advance_shutdown() {
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

void supervisor_core::impl::on_kill_static(caf::actor_id aid) {
  auto child = find_static(aid);
  if (child == nullptr || child->state != phase::stopping)
    return;
  cartd::log().warn(
      "supervisor {}: child '{}' did not stop within {} ms; killing it", label,
      child->spec.id,
      std::chrono::duration_cast<std::chrono::milliseconds>(
          child->spec.shutdown)
          .count());
  self->send_exit(child->handle.untyped(), caf::exit_reason::kill);
}

void supervisor_core::impl::on_kill_dynamic() {
  if (dynamic.empty())
    return;
  cartd::log().warn("supervisor {}: {} dynamic children did not stop in "
                    "time; killing them",
                    label, dynamic.size());
  stop_reason = caf::exit_reason::kill;
  for (auto aid : stopping_dynamic)
    if (auto x = dynamic.find_by_aid(aid); x != dynamic_children::none)
      self->send_exit(dynamic.handle(x), stop_reason);
}

void supervisor_core::impl::kill_all() {
  for (auto& child : children)
    if (child.state != phase::down && child.handle)
      caf::anon_send_exit(child.handle.untyped(), caf::exit_reason::kill);
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

} // namespace cartd::supervision
