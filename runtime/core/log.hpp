#pragma once

// Process-wide logging through spdlog (CAF 0.17's own logger is compiled out
// in Debian's build). Everything logs through `cartd::log()`.

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

namespace cartd {

/// The node's logger (stderr, "[time] [level] message").
spdlog::logger& log();

/// Sets the level from a name: trace, debug, info, warn, error, off.
/// Returns false for an unknown name.
bool set_log_level(std::string_view name);

} // namespace cartd
