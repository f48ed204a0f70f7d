#pragma once

// Applies the log.* options at start-up: the node's logger (level, format,
// the `node` field) and the access log's output; on SIGHUP, opens the access
// log's file again (logrotate renamed it).

#include <string>

#include "bindings/cartd/cartd_config.hpp"

namespace cartd {

/// Sets the node logger's level and format, names the node in every line
/// (cluster_node_name()), and opens the access log when log.access is set
/// (cfg.access_log: stdout, or log.access-file opened for appending).
/// Returns a description of the problem (the access file cannot be opened),
/// or an empty string. Call it once, before the actor system starts.
std::string configure_logging(cartd_config& cfg);

/// Opens log.access-file again under its name, so that the lines go to a
/// new file once logrotate (or an operator) renamed the old one; what was
/// written before stays in the old file. The node's own log is stderr and
/// has no file to reopen. Returns the line to log: what was reopened,
/// that there was nothing to reopen, or why it failed (the access log then
/// goes on writing to the file it had). Thread-safe.
std::string reopen_log_files();

} // namespace cartd
