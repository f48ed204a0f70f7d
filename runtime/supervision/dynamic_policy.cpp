// Dynamic children: starting them on demand, restarting them one_for_one
// with a restart budget per child, and the hooks that report to the host.

#include "runtime/supervision/core_impl.hpp"

#include <chrono>
#include <exception>

#include <caf/send.hpp>

#include "runtime/core/log.hpp"

namespace cartd::supervision {

caf::actor supervisor_core::impl::start_dynamic_child(const std::string& id) {
  caf::actor handle;
  try {
    if (dynamic_tpl.start)
      handle = dynamic_tpl.start(self, id);
  } catch (const std::exception& e) {
    cartd::log().warn("supervisor {}: start of dynamic child '{}' threw: {}",
                      label, id, e.what());
    return {};
  } catch (...) {
    cartd::log().warn("supervisor {}: start of dynamic child '{}' threw", label,
                      id);
    return {};
  }
  if (!handle) {
    cartd::log().warn(
        "supervisor {}: start of dynamic child '{}' returned no actor", label,
        id);
    return {};
  }
  self->monitor(handle);
  return handle;
}

caf::actor supervisor_core::impl::start_dynamic(const std::string& id) {
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

void supervisor_core::impl::on_dynamic_down(dynamic_children::slot x,
                                            const caf::error& reason) {
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
  if (!detail::should_restart(dynamic_tpl.restart, reason)) {
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
    if (!detail::record_restart(dynamic.restarts(x),
                                dynamic_tpl.dynamic_intensity,
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
      cartd::log().info("supervisor {}: dynamic child '{}' ended ({}); "
                        "restarted",
                        label, id, render(reason));
      if (hooks.on_restarted)
        hooks.on_restarted(id, handle);
      return;
    }
    last_reason = make_error(supervision_errc::start_failed);
  }
}

} // namespace cartd::supervision
