#pragma once

// Applies the log.* options at start-up: the node's logger (level, format,
// the `node` field) and the access log's output.

#include <string>

#include "bindings/cartd/cartd_config.hpp"

namespace cartd {

/// Sets the node logger's level and format, names the node in every line
/// (cluster_node_name()), and opens the access log when log.access is set
/// (cfg.access_log: stdout, or log.access-file opened for appending).
/// Returns a description of the problem (the access file cannot be opened),
/// or an empty string. Call it once, before the actor system starts.
std::string configure_logging(cartd_config& cfg);

} // namespace cartd
