#include "runtime/journal/postgres/pg_support.hpp"

#include <cstdlib>
#include <cstring>

namespace cartd::pg {

std::string one_line(std::string x) {
  for (auto& c : x)
    if (c == '\n' || c == '\t')
      c = ' ';
  while (!x.empty() && x.back() == ' ')
    x.pop_back();
  std::string result;
  for (auto c : x)
    if (c != ' ' || result.empty() || result.back() != ' ')
      result += c;
  return result;
}

std::string redact(std::string x, const std::string& secret) {
  if (secret.empty())
    return x;
  for (size_t pos; (pos = x.find(secret)) != std::string::npos;)
    x.replace(pos, secret.size(), "***");
  return x;
}

bool password_in(const std::string& conninfo, std::string& password,
                 std::string& error) {
  password.clear();
  char* err = nullptr;
  auto parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    error = err != nullptr ? one_line(err) : "out of memory";
    PQfreemem(err);
    return false;
  }
  for (auto* x = parsed; x->keyword != nullptr; ++x)
    if (std::strcmp(x->keyword, "password") == 0 && x->val != nullptr)
      password = x->val;
  PQconninfoFree(parsed);
  return true;
}

std::string quote_ident(const std::string& x) {
  std::string result = "\"";
  for (auto c : x) {
    if (c == '"')
      result += '"';
    result += c;
  }
  return result + "\"";
}

int64_t to_int(const PGresult* res, int row, int col) {
  return std::strtoll(PQgetvalue(res, row, col), nullptr, 10);
}

std::string to_text(const PGresult* res, int row, int col) {
  return std::string{PQgetvalue(res, row, col),
                     static_cast<size_t>(PQgetlength(res, row, col))};
}

} // namespace cartd::pg
