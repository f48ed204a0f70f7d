#include "runtime/cluster/member_store.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>

namespace cartd {

const char* to_string(member_errc x) noexcept {
  switch (x) {
  case member_errc::none:
    return "none";
  case member_errc::unavailable:
    return "unavailable";
  case member_errc::name_taken:
    return "name_taken";
  case member_errc::lost:
    return "lost";
  case member_errc::transport_mismatch:
    return "transport_mismatch";
  }
  return "unknown";
}

caf::error make_error(member_errc x, std::string context) {
  return {static_cast<uint8_t>(x), caf::atom("member"),
          caf::make_message(std::move(context))};
}

void add_member_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("member"), [](uint8_t code, caf::atom_value,
                                                 const caf::message& context) {
    return std::string{"member_error("} +
           to_string(static_cast<member_errc>(code)) + ", " +
           to_string(context) + ")";
  });
}

member_errc member_errc_of(const caf::error& err) noexcept {
  if (err.category() != caf::atom("member"))
    return member_errc::unavailable;
  return static_cast<member_errc>(err.code());
}

member_store::~member_store() {
  // nop
}

} // namespace cartd
