#pragma once

// The words around cartd's options: an option's environment variable, what
// a value of its type looks like, where an entry of a config file stands,
// the closest known name to a typo, and a configuration written back as a
// config file (--dump-config). Pure functions of text and CAF values, so
// that cartd_config's messages are unit-tested without a process.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <caf/settings.hpp>

namespace cartd {

/// The environment variable of an option: `CARTD_` and its name upper-cased,
/// dots and dashes as underscores (`http.port`: `CARTD_HTTP_PORT`,
/// `cluster.tls.ca`: `CARTD_CLUSTER_TLS_CA`). A name without a group
/// (`config-file`) maps to `CARTD_CONFIG_FILE`.
std::string env_name(std::string_view option_name);

/// What a value of CAF's option type `type_name` ("timespan", "uint16",
/// "boolean", "string", ...) looks like, in words for an error message:
/// durations name their units (ns, us, ms, s, min, h).
std::string expected_form(std::string_view type_name);

/// The name of `candidates` closest to `name` (at most two edits away, else
/// an empty string): for "did you mean" in errors.
std::string closest_name(std::string_view name,
                         const std::vector<std::string>& candidates);

/// A line of a config file and what it holds, as far as it can be told from
/// its text: the section above it, and the key and value of `key = value`.
struct config_line {
  /// 1-based; 0 if the text has no such line.
  size_t number = 0;
  std::string text;
  /// The [section] above the line ("" above the first one).
  std::string section;
  /// Key and value around the first `=`, trimmed; both empty without one.
  std::string key;
  std::string value;
};

/// Line `number` (1-based) of `text`.
config_line line_of(std::string_view text, size_t number);

/// The line of `text` that sets `key` in section `section` (the last one,
/// as the last one wins); number 0 if there is none.
config_line find_entry(std::string_view text, std::string_view section,
                       std::string_view key);

/// `settings` as a config file CAF's parser reads back to the same values:
/// a `[group]` section per group (nested groups as `[group.sub]`), one
/// `key=value` line per option, strings in double quotes.
std::string to_config_file(const caf::settings& settings);

/// `x` as an option's value is written on a command line or in the
/// environment: strings unquoted, durations with their unit.
std::string to_plain_text(const caf::config_value& x);

} // namespace cartd
