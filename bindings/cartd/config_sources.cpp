// Where cartd_config's values come from (defaults < config file < CARTD_*
// variables < command line), the messages of mistakes, and the options'
// text: --help and --dump-config. The options themselves and their checks
// across options are in cartd_config.cpp.

#include "bindings/cartd/cartd_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

#include <caf/config_option.hpp>
#include <caf/config_value.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>

#include "bindings/cartd/conninfo.hpp"
#include "bindings/cartd/option_text.hpp"

namespace cartd {

namespace {

/// CAF's global options that are actions of the command line, not settings.
bool is_action(const caf::config_option& x) {
  auto name = x.full_name();
  return name == "global.help" || name == "global.long-help" ||
         name == "global.dump-config";
}

/// An option's name as users write it: "http.port", "config-file".
std::string user_name(const caf::config_option& x) {
  auto full = x.full_name();
  std::string name{full.data(), full.size()};
  if (name.rfind("global.", 0) == 0)
    name.erase(0, 7);
  return name;
}

/// The option users write as `name` ("http.port", "cluster.tls.ca",
/// "config-file"), or null. (CAF's qualified_name_lookup splits at the first
/// dot and finds no cluster.tls.ca.)
const caf::config_option* find_option(const caf::config_option_set& options,
                                      const std::string& name) {
  for (auto& x : options)
    if (user_name(x) == name)
      return &x;
  return nullptr;
}

std::string type_of(const caf::config_option& x) {
  auto type = x.type_name();
  return std::string{type.data(), type.size()};
}

/// Why cartd refuses an option CAF declares, or an empty string for one it
/// honours. CAF 0.17 declares these whether or not cartd loads their module
/// or reads them: accepted, they would change nothing (or, for the last
/// ones, change CAF internals cartd relies on and no test covers).
std::string refusal(const std::string& name) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  std::string why;
  if (starts("openssl."))
    // Not mapped onto cluster.tls: they look like HTTPS for clients (which
    // the load balancer terminates), passphrase and capath have no
    // counterpart, and one spelling per setting keeps the log honest.
    why = "TLS between the nodes is --cluster.tls.certificate, "
          "--cluster.tls.key and --cluster.tls.ca; HTTPS for clients is "
          "terminated by the load balancer (deploy/nginx-https.conf.in)";
  else if (starts("logger."))
    why = "cartd logs through --log.level, --log.format, --log.access and "
          "--log.access-file; CAF's logger.* change nothing";
  else if (starts("stream."))
    why = "cartd uses no CAF streams";
  else if (starts("opencl."))
    why = "cartd loads no OpenCL module";
  else if (name == "middleman.heartbeat-interval" ||
           name == "middleman.connection-timeout")
    why = "cartd sets it from --cluster.heartbeat and --cluster.lease";
  else if (name == "middleman.enable-automatic-connections")
    why = "cartd connects its cluster nodes itself (CAF's automatic "
          "connections would open plain-TCP links next to mutual TLS)";
  else if (starts("middleman.app-identifier"))
    why = "cartd's nodes find each other in the membership table; a separate "
          "cluster uses its own --storage.postgres-schema";
  else if (name == "middleman.network-backend")
    why = "cartd runs on CAF's default network backend only";
  else if (name == "middleman.manual-multiplexing")
    why = "nothing would run the network: the node would never answer";
  else if (name == "middleman.attach-utility-actors")
    why = "a CAF internal cartd neither needs nor is tested with";
  if (why.empty())
    return {};
  return name + " is not a cartd option: " + why;
}

/// `value` of option `name` as a message may show it: never a password.
std::string shown(const std::string& name, const std::string& value) {
  return name == "storage.postgres" ? mask_password(value) : value;
}

/// "<uint16>", "<duration>", ... for --help and messages.
std::string placeholder(const std::string& type) {
  if (type == "timespan")
    return "<duration>";
  if (type == "string")
    return "<text>";
  if (type == "atom")
    return "<word>";
  if (type.rfind("list of ", 0) == 0)
    return "<list>";
  if (type.rfind("uint", 0) == 0 || type.rfind("int", 0) == 0)
    return "<number>";
  return "<" + type + ">";
}

/// `text` wrapped at 79 columns, each line indented by `indent` spaces.
std::string wrapped(const std::string& text, size_t indent) {
  std::string result;
  std::string line;
  std::istringstream words{text};
  std::string word;
  while (words >> word) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > 79) {
      result += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty())
    result += std::string(indent, ' ') + line + "\n";
  return result;
}

/// "PATH:LINE: ", or "PATH: " when the line is unknown.
std::string where(const std::string& path, size_t line) {
  return path + (line == 0 ? "" : ":" + std::to_string(line)) + ": ";
}

/// The line of a parser error of CAF's config parser (0 if it has none).
size_t error_line(const caf::error& err) {
  auto& context = err.context();
  if (!context.match_elements<caf::settings>())
    return 0;
  auto line = caf::get_or(context.get_as<caf::settings>(0), "line", int64_t{0});
  return line > 0 ? static_cast<size_t>(line) : 0;
}

/// CAF's parser error code in words ("unexpected character").
std::string error_words(const caf::error& err) {
  if (err.category() != caf::atom("parser"))
    return caf::to_string(err);
  auto words = caf::to_string(static_cast<caf::pec>(err.code()));
  std::replace(words.begin(), words.end(), '_', ' ');
  return words;
}

} // namespace

struct cartd_config::setting {
  const caf::config_option* option;
  /// Nothing for a flag written without a value (`--cluster.enabled`).
  std::optional<std::string> value;
  /// Where it was written, for messages: "--http.port=x", "CARTD_HTTP_PORT=x".
  std::string origin;
};

std::vector<const caf::config_option*> cartd_config::shown_options() const {
  // config-file, cartd's groups, then the CAF groups cartd honours.
  auto from_caf = [](const caf::config_option& x) {
    auto group = x.category();
    return group == "scheduler" || group == "work-stealing" ||
           group == "middleman";
  };
  std::vector<const caf::config_option*> result;
  for (bool caf_group : {false, true})
    for (auto& x : custom_options_)
      if (from_caf(x) == caf_group && !is_action(x) &&
          refusal(user_name(x)).empty())
        result.push_back(&x);
  return result;
}

std::string cartd_config::parse_args(int argc, char** argv) {
  std::vector<std::string> env;
  for (char** x = environ; x != nullptr && *x != nullptr; ++x)
    env.emplace_back(*x);
  return parse_args(argc, argv, env);
}

std::string cartd_config::parse_args(int argc, char** argv,
                                     const std::vector<std::string>& env) {
  constexpr auto npos = std::string::npos;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "-?" || arg == "--help" || arg == "--long-help") {
      requested = action::help;
      return {};
    }
    if (arg == "--version") {
      requested = action::version;
      return {};
    }
  }
  std::vector<std::string> names;
  std::vector<std::string> variables;
  for (auto* x : shown_options()) {
    names.push_back(user_name(*x));
    variables.push_back(env_name(names.back()));
  }
  // -- the command line, checked before anything is applied
  std::vector<setting> cli;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dump-config") {
      requested = action::dump_config;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2)
      return "unexpected argument " + arg +
             ": options are written --group.name=value (see --help)";
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == npos ? npos : eq - 2);
    auto* option = find_option(custom_options_, name);
    if (option == nullptr || is_action(*option)) {
      auto near = closest_name(name, names);
      return "unknown option --" + name +
             (near.empty() ? "" : " (did you mean --" + near + "?)") +
             "; see --help";
    }
    auto origin =
        eq == npos ? arg : "--" + name + "=" + shown(name, arg.substr(eq + 1));
    if (auto why = refusal(name); !why.empty())
      return origin + ": " + why;
    if (eq == npos && !option->is_flag())
      return "--" + name + " needs a value: --" + name + "=" +
             placeholder(type_of(*option)) + ", " +
             expected_form(type_of(*option));
    cli.push_back({option,
                   eq == npos ? std::nullopt
                              : std::optional<std::string>{arg.substr(eq + 1)},
                   origin});
  }
  // -- the environment: CARTD_* must name an option (a typo is refused
  // rather than ignored)
  std::vector<setting> from_env;
  for (auto& entry : env) {
    if (entry.rfind("CARTD_", 0) != 0)
      continue;
    auto eq = entry.find('=');
    auto variable = entry.substr(0, eq);
    auto value = eq == npos ? std::string{} : entry.substr(eq + 1);
    const caf::config_option* option = nullptr;
    for (auto& x : custom_options_)
      if (!is_action(x) && env_name(user_name(x)) == variable)
        option = &x;
    if (option == nullptr) {
      auto near = closest_name(variable, variables);
      return "environment variable " + variable + " names no cartd option" +
             (near.empty() ? "" : " (did you mean " + near + "?)") +
             ": cartd reads CARTD_GROUP_NAME for --group.name (see --help)";
    }
    auto name = user_name(*option);
    auto origin = variable + "=" + shown(name, value);
    if (auto why = refusal(name); !why.empty())
      return "environment variable " + origin + ": " + why;
    from_env.push_back({option, value, "environment variable " + origin});
  }
  // -- the config file: the command line's, else the environment's, else
  // caf-application.ini if there is one
  auto path = config_file_path;
  bool named = false;
  for (auto* xs : {&from_env, &cli}) {
    for (auto i = xs->begin(); i != xs->end();) {
      if (user_name(*i->option) == "config-file") {
        path = i->value.value_or("");
        named = true;
        i = xs->erase(i);
      } else {
        ++i;
      }
    }
  }
  if (named && path.empty())
    return "config-file must name a file";
  if (auto problem = apply_config_file(path, named); !problem.empty())
    return problem;
  for (auto* xs : {&from_env, &cli})
    for (auto& x : *xs)
      if (auto problem = apply(x); !problem.empty())
        return problem;
  return {};
}

std::string cartd_config::apply(const setting& x) {
  auto name = user_name(*x.option);
  caf::config_value value{true};
  if (x.value) {
    auto parsed = x.option->parse(*x.value);
    if (!parsed)
      return x.origin + ": " + name + " takes " +
             expected_form(type_of(*x.option));
    value = std::move(*parsed);
  }
  x.option->store(value);
  caf::put(content, name, std::move(value));
  return {};
}

std::string cartd_config::apply_config_file(const std::string& path,
                                            bool named) {
  std::ifstream in{path};
  if (!in) {
    if (named)
      return "cannot read config file " + path + ": " + std::strerror(errno);
    return {};
  }
  std::string text{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  // CAF's own parser; its errors carry only a line (and column), so the
  // message adds what that line sets and what the option expects.
  std::istringstream source{text};
  auto parsed = parse_config(source);
  if (!parsed) {
    auto line = line_of(text, error_line(parsed.error()));
    auto at = where(path, line.number) + "cannot read ";
    auto what = " (" + error_words(parsed.error()) + "): ";
    if (line.key.empty())
      return at + "`" + line.text + "`" + what +
             "expected [group] or name=value";
    auto name = line.section.empty() ? line.key : line.section + "." + line.key;
    auto* option = find_option(custom_options_, name);
    auto entry = line.key + "=" + shown(name, line.value);
    if (!line.section.empty())
      entry += " in [" + line.section + "]";
    if (option == nullptr || is_action(*option)) {
      auto near = closest_name(name, [this] {
        std::vector<std::string> xs;
        for (auto* x : shown_options())
          xs.push_back(user_name(*x));
        return xs;
      }());
      return at + entry + what + "unknown option " + name +
             (near.empty() ? "" : " (did you mean " + near + "?)");
    }
    auto type = type_of(*option);
    if (type == "string" && line.value.rfind('"', 0) != 0)
      return at + entry + what +
             "strings are written in double quotes: " + line.key + "=\"" +
             shown(name, line.value) + "\"";
    return at + entry + what + name + " takes " + expected_form(type);
  }
  // CAF 0.17 stores unknown entries and drops ill-typed values without a
  // word; refuse them here.
  std::vector<std::string> names;
  for (auto* x : shown_options())
    names.push_back(user_name(*x));
  std::function<std::string(const std::string&, const std::string&,
                            const caf::config_value&)>
      check = [&](const std::string& section, const std::string& key,
                  const caf::config_value& value) -> std::string {
    auto name = section.empty() ? key : section + "." + key;
    auto* option = find_option(custom_options_, name);
    if (option == nullptr && caf::holds_alternative<caf::settings>(value)) {
      for (auto& [inner, x] : caf::get<caf::settings>(value))
        if (auto problem = check(name, inner, x); !problem.empty())
          return problem;
      return {};
    }
    auto line = find_entry(text, section, key);
    auto at = where(path, line.number);
    if (section.empty())
      return at + key + " is outside a [group] section";
    if (option == nullptr || is_action(*option)) {
      auto near = closest_name(name, names);
      return at + "unknown option " + name + " in [" + section + "]" +
             (near.empty() ? "" : " (did you mean " + near + "?)");
    }
    if (auto why = refusal(name); !why.empty())
      return at + why;
    if (option->check(value)) {
      auto text_value = line.number != 0 ? line.value : caf::to_string(value);
      return at + key + "=" + shown(name, text_value) + " in [" + section +
             "]: " + name + " takes " + expected_form(type_of(*option));
    }
    return {};
  };
  for (auto& [key, value] : *parsed)
    if (auto problem = check("", key, value); !problem.empty())
      return problem;
  if (auto err = parse(string_list{}, path.c_str()))
    return where(path, 0) + render(err);
  // CAF 0.17 hands only one level of sections to the options: the entries of
  // [cluster.tls] (a section "tls" inside "cluster") never reach
  // cluster.tls.*. Apply them here; the environment and the command line
  // come after.
  std::function<void(const std::string&, const caf::settings&, int)> nested =
      [&](const std::string& prefix, const caf::settings& xs, int depth) {
        for (auto& [key, value] : xs) {
          auto name = prefix.empty() ? key : prefix + "." + key;
          if (auto inner = caf::get_if<caf::settings>(&value)) {
            nested(name, *inner, depth + 1);
          } else if (depth >= 2) {
            if (auto* option = find_option(custom_options_, name)) {
              option->store(value);
              caf::put(content, name, value);
            }
          }
        }
      };
  nested("", *parsed, 0);
  return {};
}

caf::settings cartd_config::dump_content() const {
  // CAF's own dump holds the defaults of its options that are not bound to
  // a member (scheduler.max-threads, ...) and what was set.
  auto caf_values = actor_system_config::dump_content();
  caf::settings result;
  for (auto* x : shown_options()) {
    if (x->category() == "global")
      continue; // config-file: where the values came from, not a value
    auto name = user_name(*x);
    auto value = x->get();
    if (!value)
      if (auto* set = caf::get_if(&caf_values, name))
        value = *set;
    if (!value)
      continue;
    if (auto* text = caf::get_if<std::string>(&*value))
      *value = caf::config_value{shown(name, *text)};
    caf::put(result, name, std::move(*value));
  }
  return result;
}

std::string cartd_config::dump_text() const {
  return "; cartd's effective configuration (--dump-config) as a config "
         "file: the defaults\n; overridden by the config file, CARTD_* "
         "variables and the command line\n\n" +
         to_config_file(dump_content());
}

std::string cartd_config::help_text() const {
  auto caf_values = actor_system_config::dump_content();
  std::string out =
      "Usage: cartd [--group.name=value ...]\n\n" +
      wrapped("Each option is read from its default, then the config file "
              "(--config-file, CARTD_CONFIG_FILE, else caf-application.ini in "
              "the working directory if it exists), then the environment, then "
              "the command line; each overrides the one before. In the "
              "environment --group.name is CARTD_GROUP_NAME (upper case, dots "
              "and dashes as underscores: CARTD_HTTP_PORT=9000 for "
              "--http.port=9000); a CARTD_ variable that names no option is an "
              "error. In the config file a [group] section holds name=value "
              "lines: strings in double quotes (path=\"/var/lib/cartd\"), "
              "durations with a unit (idle-timeout=2min), flags true or false. "
              "Durations take ns, us, ms, s, min or h.",
              0) +
      "\n  --help, -h\n      print this text and exit\n"
      "  --version\n      print cartd's version and exit\n"
      "  --dump-config\n"
      "      print the effective configuration as a config file and exit\n";
  std::string group = "global";
  for (auto* x : shown_options()) {
    auto category = x->category();
    if (category != group) {
      group = std::string{category.data(), category.size()};
      out += "\n[" + group + "]\n";
    }
    auto name = user_name(*x);
    auto type = type_of(*x);
    auto value = x->get();
    if (!value)
      if (auto* set = caf::get_if(&caf_values, name))
        value = *set;
    std::string fallback = "none";
    if (value) {
      if (auto* text = caf::get_if<std::string>(&*value))
        fallback = "\"" + shown(name, *text) + "\"";
      else
        fallback = to_plain_text(*value);
    }
    out += "  --" + name +
           (x->is_flag() ? "[=true|false]" : "=" + placeholder(type)) + "\n";
    out += "      " + env_name(name) + ", default " + fallback + "\n";
    auto description = x->description();
    out += wrapped(std::string{description.data(), description.size()}, 6);
  }
  return out;
}

} // namespace cartd
