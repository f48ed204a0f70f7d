#include "bindings/cartd/option_text.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <limits>

#include <caf/config_value.hpp>

namespace cartd {

namespace {

std::string_view trim(std::string_view x) {
  auto is_space = [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  };
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

/// Calls `f(number, line)` for each line of `text` until it returns false.
template <class F>
void for_each_line(std::string_view text, F f) {
  size_t number = 1;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (!f(number++, line))
      return;
    if (end == std::string_view::npos)
      return;
    text.remove_prefix(end + 1);
  }
}

/// The section a line opens ("[http]" -> "http"), or nothing.
bool section_of(std::string_view line, std::string& section) {
  line = trim(line);
  if (line.size() < 2 || line.front() != '[')
    return false;
  auto end = line.find(']');
  if (end == std::string_view::npos)
    return false;
  section = std::string{trim(line.substr(1, end - 1))};
  return true;
}

void split_entry(config_line& x) {
  auto line = trim(x.text);
  if (line.empty() || line.front() == ';' || line.front() == '#' ||
      line.front() == '[')
    return;
  auto eq = line.find('=');
  if (eq == std::string_view::npos)
    return;
  x.key = std::string{trim(line.substr(0, eq))};
  x.value = std::string{trim(line.substr(eq + 1))};
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    auto diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      auto above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string duration_text(caf::timespan x) {
  using namespace std::chrono;
  auto ns = x.count();
  if (ns == 0)
    return "0s";
  const std::pair<int64_t, const char*> units[] = {
      {duration_cast<nanoseconds>(hours{1}).count(), "h"},
      {duration_cast<nanoseconds>(minutes{1}).count(), "min"},
      {duration_cast<nanoseconds>(seconds{1}).count(), "s"},
      {duration_cast<nanoseconds>(milliseconds{1}).count(), "ms"},
      {duration_cast<nanoseconds>(microseconds{1}).count(), "us"},
  };
  for (auto& [size, name] : units)
    if (ns % size == 0)
      return std::to_string(ns / size) + name;
  return std::to_string(ns) + "ns";
}

std::string value_text(const caf::config_value& x) {
  if (auto span = caf::get_if<caf::timespan>(&x))
    return duration_text(*span);
  return caf::to_string(x);
}

void write_section(std::string& out, const std::string& name,
                   const caf::settings& entries) {
  std::string nested;
  bool any = false;
  for (auto& [key, value] : entries) {
    if (auto inner = caf::get_if<caf::settings>(&value)) {
      write_section(nested, name + "." + key, *inner);
      continue;
    }
    if (!any)
      out += (out.empty() ? "[" : "\n[") + name + "]\n";
    any = true;
    out += key + "=" + value_text(value) + "\n";
  }
  if (!nested.empty() && !out.empty())
    out += "\n";
  out += nested;
}

} // namespace

std::string env_name(std::string_view option_name) {
  std::string result = "CARTD_";
  for (char c : option_name) {
    if (c == '.' || c == '-')
      result += '_';
    else
      result += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return result;
}

std::string expected_form(std::string_view type_name) {
  if (type_name == "boolean")
    return "true or false";
  if (type_name == "timespan")
    return "a duration with a unit: ns, us, ms, s, min or h (such as 30s or "
           "250ms)";
  if (type_name == "string")
    return "text (in a config file in double quotes, such as "
           "\"/var/lib/cartd\")";
  if (type_name == "atom")
    return "a word (in a config file in single quotes, such as 'stealing')";
  if (type_name.rfind("list of ", 0) == 0)
    return "a list in brackets, such as [\"a\", \"b\"]";
  auto whole = [](auto max) {
    return "a whole number from 0 to " + std::to_string(max);
  };
  if (type_name == "uint8")
    return whole(std::numeric_limits<uint8_t>::max());
  if (type_name == "uint16")
    return whole(std::numeric_limits<uint16_t>::max());
  if (type_name == "uint32")
    return whole(std::numeric_limits<uint32_t>::max());
  if (type_name == "uint64")
    return "a whole number, 0 or more";
  if (type_name.rfind("int", 0) == 0)
    return "a whole number";
  if (type_name == "real64" || type_name == "real32")
    return "a number";
  return "a value of type " + std::string{type_name};
}

std::string closest_name(std::string_view name,
                         const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;
  for (auto& x : candidates) {
    auto d = edit_distance(name, x);
    if (d < best_distance) {
      best_distance = d;
      best = x;
    }
  }
  return best;
}

config_line line_of(std::string_view text, size_t number) {
  config_line result;
  std::string section;
  for_each_line(text, [&](size_t n, std::string_view line) {
    if (n == number) {
      result.number = n;
      result.text = std::string{line};
      result.section = section;
      split_entry(result);
      return false;
    }
    section_of(line, section);
    return true;
  });
  return result;
}

config_line find_entry(std::string_view text, std::string_view section,
                       std::string_view key) {
  config_line result;
  std::string current;
  for_each_line(text, [&](size_t n, std::string_view line) {
    if (section_of(line, current))
      return true;
    config_line x;
    x.number = n;
    x.text = std::string{line};
    x.section = current;
    split_entry(x);
    if (x.section == section && x.key == key)
      result = std::move(x);
    return true;
  });
  return result;
}

std::string to_config_file(const caf::settings& settings) {
  std::string result;
  for (auto& [name, value] : settings)
    if (auto entries = caf::get_if<caf::settings>(&value))
      write_section(result, name, *entries);
  return result;
}

std::string to_plain_text(const caf::config_value& x) {
  if (auto text = caf::get_if<std::string>(&x))
    return *text;
  if (auto atom = caf::get_if<caf::atom_value>(&x))
    return caf::to_string(*atom);
  return value_text(x);
}

} // namespace cartd
