#pragma once

// Small libpq helpers shared by the PostgreSQL journal (pg_journal.cpp) and
// the membership table (runtime/cluster/postgres/pg_member_store.cpp):
// owning handles, error text on one line and without the password, quoted
// identifiers, reading result cells. Internal to those two: it includes
// libpq, which no other component sees.

#include <cstdint>
#include <memory>
#include <string>

#include <libpq-fe.h>

namespace cartd::pg {

struct result_deleter {
  void operator()(PGresult* x) const noexcept { PQclear(x); }
};

/// Owns a PGresult.
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

struct conn_deleter {
  void operator()(PGconn* x) const noexcept { PQfinish(x); }
};

/// Owns a PGconn.
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

/// libpq's text without trailing newlines and with its continuation lines
/// ("\n\t...") on one line.
std::string one_line(std::string x);

/// Removes every occurrence of `secret` from `x`.
std::string redact(std::string x, const std::string& secret);

/// Reads the password `conninfo` holds into `password` ("" if none), so
/// that error messages can leave it out. Returns false when `conninfo` does
/// not parse; `error` then holds libpq's reason on one line.
bool password_in(const std::string& conninfo, std::string& password,
                 std::string& error);

/// `x` as an SQL identifier in double quotes.
std::string quote_ident(const std::string& x);

/// The cell at (`row`, `col`) as an integer.
int64_t to_int(const PGresult* res, int row, int col);

/// The cell at (`row`, `col`) as text.
std::string to_text(const PGresult* res, int row, int col);

} // namespace cartd::pg
