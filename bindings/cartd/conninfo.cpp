#include "bindings/cartd/conninfo.hpp"

#include <cctype>
#include <memory>
#include <optional>
#include <string_view>

#include <libpq-fe.h>

namespace cartd {

namespace {

constexpr std::string_view mask = "*****";

bool is_uri(std::string_view x) {
  return x.rfind("postgresql://", 0) == 0 || x.rfind("postgres://", 0) == 0;
}

bool iequals(std::string_view x, std::string_view y) {
  if (x.size() != y.size())
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(x[i])) !=
        std::tolower(static_cast<unsigned char>(y[i])))
      return false;
  return true;
}

// postgresql://[user[:password]@][host][:port][,...][/dbname][?k=v&...]
std::string mask_uri(const std::string& uri) {
  auto start = uri.find("://") + 3;
  auto authority_end = uri.find_first_of("/?", start);
  if (authority_end == std::string::npos)
    authority_end = uri.size();
  std::string result = uri.substr(0, start);
  auto authority = std::string_view{uri}.substr(start, authority_end - start);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto user_info = authority.substr(0, at);
    if (auto colon = user_info.find(':'); colon != std::string_view::npos) {
      result += user_info.substr(0, colon + 1);
      result += mask;
    } else {
      result += user_info;
    }
    result += authority.substr(at);
  } else {
    result += authority;
  }
  auto query = uri.find('?', authority_end);
  result += uri.substr(authority_end, query == std::string::npos
                                          ? std::string::npos
                                          : query - authority_end);
  if (query == std::string::npos)
    return result;
  result += '?';
  auto params = std::string_view{uri}.substr(query + 1);
  for (bool first = true; !params.empty() || first; first = false) {
    auto amp = params.find('&');
    auto param = params.substr(0, amp);
    if (!first)
      result += '&';
    auto eq = param.find('=');
    if (eq != std::string_view::npos &&
        iequals(param.substr(0, eq), "password")) {
      result += param.substr(0, eq + 1);
      result += mask;
    } else {
      result += param;
    }
    if (amp == std::string_view::npos)
      break;
    params.remove_prefix(amp + 1);
  }
  return result;
}

// keyword = value ..., values bare or single-quoted, with backslash escapes
// (libpq's grammar). Returns nothing when the string does not parse.
std::optional<std::string> mask_keywords(const std::string& text) {
  std::string result;
  size_t i = 0;
  auto n = text.size();
  auto is_space = [&](size_t j) {
    return std::isspace(static_cast<unsigned char>(text[j])) != 0;
  };
  while (i < n) {
    auto ws = i;
    while (i < n && is_space(i))
      ++i;
    result.append(text, ws, i - ws);
    if (i == n)
      break;
    auto key_start = i;
    while (i < n && text[i] != '=' && !is_space(i))
      ++i;
    auto key = std::string_view{text}.substr(key_start, i - key_start);
    while (i < n && is_space(i))
      ++i;
    if (i == n || text[i] != '=' || key.empty())
      return std::nullopt;
    ++i;
    while (i < n && is_space(i))
      ++i;
    auto value_start = i;
    if (i < n && text[i] == '\'') {
      ++i;
      while (i < n && text[i] != '\'') {
        if (text[i] == '\\')
          ++i;
        ++i;
      }
      if (i >= n)
        return std::nullopt; // unterminated quote
      ++i;
    } else {
      while (i < n && !is_space(i)) {
        if (text[i] == '\\')
          ++i;
        ++i;
      }
      i = std::min(i, n);
    }
    result.append(key);
    result += '=';
    if (iequals(key, "password"))
      result += mask;
    else
      result.append(text, value_start, i - value_start);
  }
  return result;
}

struct options_deleter {
  void operator()(PQconninfoOption* x) const { PQconninfoFree(x); }
};

using options_ptr = std::unique_ptr<PQconninfoOption, options_deleter>;

options_ptr parse(const std::string& conninfo) {
  char* err = nullptr;
  options_ptr result{PQconninfoParse(conninfo.c_str(), &err)};
  // The message may quote the string, password included: never shown.
  PQfreemem(err);
  return result;
}

} // namespace

std::string mask_password(const std::string& conninfo) {
  if (is_uri(conninfo))
    return mask_uri(conninfo);
  if (auto result = mask_keywords(conninfo))
    return std::move(*result);
  return std::string{mask};
}

std::string describe_conninfo(const std::string& conninfo) {
  auto options = parse(conninfo);
  if (!options)
    return {};
  std::string host;
  std::string hostaddr;
  std::string port;
  std::string dbname;
  for (auto* opt = options.get(); opt->keyword != nullptr; ++opt) {
    if (opt->val == nullptr || *opt->val == '\0')
      continue;
    std::string_view key = opt->keyword;
    if (key == "host")
      host = opt->val;
    else if (key == "hostaddr")
      hostaddr = opt->val;
    else if (key == "port")
      port = opt->val;
    else if (key == "dbname")
      dbname = opt->val;
  }
  std::string result;
  auto add = [&result](const char* key, const std::string& value) {
    if (value.empty())
      return;
    if (!result.empty())
      result += ' ';
    result += key;
    result += '=';
    result += value;
  };
  add("host", host.empty() ? hostaddr : host);
  add("port", port);
  add("dbname", dbname);
  return result;
}

bool valid_conninfo(const std::string& conninfo) {
  return parse(conninfo) != nullptr;
}

} // namespace cartd
