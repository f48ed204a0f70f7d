#pragma once

// What the node may say about a libpq connection string: the string with
// its passwords masked (for --dump-config), and where it points (for logs).
// Passwords never appear in logs, error messages or --dump-config.

#include <string>

namespace cartd {

/// `conninfo` with every password replaced by `*****`: the value of a
/// `password` keyword (`host=db password='s3cret'`), the password of a URI's
/// user info (`postgresql://user:s3cret@db/cart`) and a URI's `password`
/// parameter. A string that cannot be parsed becomes `*****` as a whole.
std::string mask_password(const std::string& conninfo);

/// Where `conninfo` points, for logs: its host (or hostaddr), port and
/// dbname as `host=db port=5432 dbname=cart`, leaving out what it does not
/// set (libpq then takes PGHOST, PGPORT, ... or its defaults). Never the
/// password. An empty string if `conninfo` cannot be parsed.
std::string describe_conninfo(const std::string& conninfo);

/// Whether libpq accepts `conninfo` (PQconninfoParse; connects nowhere).
bool valid_conninfo(const std::string& conninfo);

} // namespace cartd
