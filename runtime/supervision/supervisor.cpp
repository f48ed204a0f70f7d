// The supervisor's error category and the plain supervisor actor (a
// supervisor_core over static children). The core itself is spread over
// the files listed in core_impl.hpp.

#include "runtime/supervision/supervisor.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/core/log.hpp"

namespace cartd::supervision {

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

namespace detail {

namespace {

std::string demangled(const std::type_info& x) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(x.name(), nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : x.name();
}

} // namespace

void log_type_mismatch(const std::string& id, const std::type_info& is,
                       const std::type_info& wanted) {
  cartd::log().error("supervision: child '{}' is a {}, looked up as a {}", id,
                     demangled(is), demangled(wanted));
}

} // namespace detail

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
