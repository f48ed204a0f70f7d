#pragma once

// What the node tells a service manager that started it (systemd's
// Type=notify, sd_notify(3) over the datagram socket in $NOTIFY_SOCKET):
// that it serves, and that it stops. Without $NOTIFY_SOCKET (a node started
// by hand, by a test or in a container) every call does nothing.

#include <string_view>

namespace cartd {

/// READY=1 with STATUS=`status`: the node serves (HTTP listening, journal
/// open, and in a cluster joined with a valid lease). Returns whether a
/// service manager got it.
bool notify_ready(std::string_view status);

/// STOPPING=1 with STATUS=`status`: the node began to stop (leave the
/// cluster, drain HTTP). Returns whether a service manager got it.
bool notify_stopping(std::string_view status);

/// STATUS=`status` alone (what `systemctl status` shows). Returns whether a
/// service manager got it.
bool notify_status(std::string_view status);

} // namespace cartd
