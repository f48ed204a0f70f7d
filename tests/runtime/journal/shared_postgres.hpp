#pragma once

// The one PostgreSQL server of the runtime_journal test binary, started on
// first use and stopped at exit, and a fresh schema name per test case.

#include <string>

#include "tests/support/postgres_server.hpp"

namespace cartd::test {

inline postgres_server& shared_postgres() {
  static postgres_server server;
  return server;
}

/// "t1", "t2", ...: a schema no other test case of this binary uses.
inline std::string fresh_schema() {
  static int counter = 0;
  return "t" + std::to_string(++counter);
}

} // namespace cartd::test
