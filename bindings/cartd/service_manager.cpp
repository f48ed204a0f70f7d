#include "bindings/cartd/service_manager.hpp"

#include <string>

#include <systemd/sd-daemon.h>

namespace cartd {

namespace {

bool notify(std::string state, std::string_view status) {
  if (!status.empty()) {
    if (!state.empty())
      state += '\n';
    state += "STATUS=";
    // One line per variable: a newline in the text would start another.
    for (char c : status)
      state += c == '\n' ? ' ' : c;
  }
  // 0 keeps $NOTIFY_SOCKET for the next notification; > 0: sent, 0: no
  // service manager, < 0: it could not be reached.
  return sd_notify(0, state.c_str()) > 0;
}

} // namespace

bool notify_ready(std::string_view status) {
  return notify("READY=1", status);
}

bool notify_stopping(std::string_view status) {
  return notify("STOPPING=1", status);
}

bool notify_status(std::string_view status) {
  return notify({}, status);
}

} // namespace cartd
