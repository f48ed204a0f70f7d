#include "runtime/journal/postgres/pg_import.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>

#include <caf/message.hpp>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "runtime/journal/postgres/pg_support.hpp"
#include "runtime/journal/sqlite_journal.hpp"

namespace cartd {

namespace {

// -- RAII ---------------------------------------------------------------------

struct sqlite_closer {
  void operator()(sqlite3* x) const noexcept { sqlite3_close_v2(x); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* x) const noexcept { sqlite3_finalize(x); }
};

using pg::conn_ptr;
using pg::result_ptr;
using sqlite_ptr = std::unique_ptr<sqlite3, sqlite_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

caf::error fail(std::string what) {
  return make_error(journal_errc::unavailable, std::move(what));
}

std::string pg_message(PGconn* conn) {
  std::string result = PQerrorMessage(conn);
  while (!result.empty() && (result.back() == '\n' || result.back() == ' '))
    result.pop_back();
  return result;
}

// -- the SQLite side ----------------------------------------------------------

/// The SQLite file, opened read-only after sqlite_journal::open upgraded it
/// (a v1 file) or checked it (a v2 file).
caf::expected<sqlite_ptr> open_sqlite(const std::string& dir) {
  auto path = (std::filesystem::path{dir} / sqlite_journal::file_name).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return fail("no SQLite journal at " + path);
  {
    // Upgrades a version 1 file, refuses what is no cartd journal.
    auto checked = sqlite_journal::open(dir);
    if (!checked)
      return std::move(checked.error());
  }
  sqlite3* raw = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  sqlite_ptr db{raw};
  if (rc != SQLITE_OK)
    return fail("cannot open " + path + ": " + sqlite3_errstr(rc));
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

caf::expected<stmt_ptr> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
    return fail(std::string{"cannot read the SQLite journal: "} +
                sqlite3_errmsg(db));
  return stmt_ptr{raw};
}

// -- COPY ---------------------------------------------------------------------

/// Appends `x` to `out` in COPY's text format (NULL is \N).
void copy_field(std::string& out, const unsigned char* x, int size) {
  if (x == nullptr) {
    out += "\\N";
    return;
  }
  for (int i = 0; i < size; ++i) {
    auto c = static_cast<char>(x[i]);
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += c;
    }
  }
}

/// Streams every row of `stmt` into `COPY <table> (<columns>) FROM STDIN`.
/// Returns the number of rows.
caf::expected<uint64_t> copy_rows(PGconn* conn, sqlite3* db, sqlite3_stmt* stmt,
                                  const std::string& sql) {
  result_ptr start{PQexec(conn, sql.c_str())};
  if (PQresultStatus(start.get()) != PGRES_COPY_IN)
    return fail("COPY refused: " + pg_message(conn));
  uint64_t rows = 0;
  std::string buf;
  auto flush = [&] {
    if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1)
      return false;
    buf.clear();
    return true;
  };
  auto columns = sqlite3_column_count(stmt);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int i = 0; i < columns; ++i) {
      if (i > 0)
        buf += '\t';
      auto text = sqlite3_column_text(stmt, i);
      copy_field(buf, text, sqlite3_column_bytes(stmt, i));
    }
    buf += '\n';
    ++rows;
    if (buf.size() >= 1 << 20 && !flush())
      return fail("COPY failed: " + pg_message(conn));
  }
  if (rc != SQLITE_DONE) {
    auto why =
        std::string{"cannot read the SQLite journal: "} + sqlite3_errmsg(db);
    PQputCopyEnd(conn, "the SQLite read failed");
    result_ptr ignored{PQgetResult(conn)};
    return fail(why);
  }
  if (!buf.empty() && !flush())
    return fail("COPY failed: " + pg_message(conn));
  if (PQputCopyEnd(conn, nullptr) != 1)
    return fail("COPY failed: " + pg_message(conn));
  result_ptr done{PQgetResult(conn)};
  if (PQresultStatus(done.get()) != PGRES_COMMAND_OK)
    return fail("COPY failed: " + pg_message(conn));
  while (result_ptr more{PQgetResult(conn)})
    ; // drain
  return rows;
}

caf::expected<result_ptr> exec(PGconn* conn, const std::string& sql,
                               ExecStatusType expected = PGRES_COMMAND_OK) {
  result_ptr result{PQexec(conn, sql.c_str())};
  if (PQresultStatus(result.get()) != expected)
    return fail(pg_message(conn));
  return result;
}

/// The message inside a journal error (its context), without the wrapping.
std::string text_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return to_string(err);
}

uint64_t number(PGresult* res, int row, int col) {
  return std::stoull(PQgetvalue(res, row, col));
}

} // namespace

caf::expected<pg_import_summary>
import_sqlite_journal(const std::string& sqlite_dir, const pg_options& opts) {
  auto sqlite = open_sqlite(sqlite_dir);
  if (!sqlite)
    return std::move(sqlite.error());
  // Creates the schema when missing and refuses a newer version; its
  // messages name the server and schema, never a password.
  {
    auto target = pg_journal::open(opts);
    if (!target)
      return std::move(target.error());
  }
  auto timeout = std::to_string(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(opts.connect_timeout)
             .count()));
  // connect_timeout first: a value in the connection string wins.
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), opts.conninfo.c_str(), nullptr};
  conn_ptr conn{PQconnectdbParams(keys, values, 1)};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return fail("cannot connect: " + pg_message(conn.get()));
  std::unique_ptr<char, decltype(&PQfreemem)> quoted{
      PQescapeIdentifier(conn.get(), opts.schema.c_str(), opts.schema.size()),
      &PQfreemem};
  if (!quoted)
    return fail(pg_message(conn.get()));
  std::string schema = quoted.get();
  auto where = std::string{"schema "} + opts.schema + " on " +
               PQhost(conn.get()) + ":" + PQport(conn.get()) + "/" +
               PQdb(conn.get());
  auto in_target = [&](caf::error err) {
    return make_error(static_cast<journal_errc>(err.code()),
                      "import into " + where + ": " + text_of(err));
  };
  // A consistent view of the SQLite file for the whole copy.
  auto* db = sqlite->get();
  if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail(std::string{"cannot read the SQLite journal: "} +
                sqlite3_errmsg(db));
  auto events = prepare(db, "SELECT stream, seq, payload, recorded_at, "
                            "idempotency_key, request_digest, response, tag "
                            "FROM events ORDER BY stream, seq");
  if (!events)
    return std::move(events.error());
  auto snapshots =
      prepare(db, "SELECT stream, seq, state, recorded_at FROM snapshots "
                  "ORDER BY stream");
  if (!snapshots)
    return std::move(snapshots.error());
  for (auto sql : {std::string{"BEGIN"},
                   "CREATE TEMP TABLE cartd_import_events (LIKE " + schema +
                       ".events) ON COMMIT DROP",
                   "CREATE TEMP TABLE cartd_import_snapshots (LIKE " + schema +
                       ".snapshots) ON COMMIT DROP"})
    if (auto res = exec(conn.get(), sql); !res)
      return in_target(std::move(res.error()));
  auto copied = copy_rows(conn.get(), db, events->get(),
                          "COPY cartd_import_events (stream, seq, payload, "
                          "recorded_at, idempotency_key, request_digest, "
                          "response, tag) FROM STDIN");
  if (!copied)
    return in_target(std::move(copied.error()));
  copied = copy_rows(conn.get(), db, snapshots->get(),
                     "COPY cartd_import_snapshots (stream, seq, state, "
                     "recorded_at) FROM STDIN");
  if (!copied)
    return in_target(std::move(copied.error()));
  // Streams the schema already holds: refuse, naming a few.
  auto taken = exec(
      conn.get(),
      "SELECT stream, count(*) OVER () FROM (SELECT DISTINCT stream FROM "
      "cartd_import_events i WHERE EXISTS (SELECT 1 FROM " +
          schema +
          ".events e WHERE e.stream = i.stream) UNION SELECT stream FROM "
          "cartd_import_snapshots i WHERE EXISTS (SELECT 1 FROM " +
          schema +
          ".snapshots s WHERE s.stream = i.stream)) t ORDER BY stream LIMIT 5",
      PGRES_TUPLES_OK);
  if (!taken)
    return in_target(std::move(taken.error()));
  if (auto n = PQntuples(taken->get()); n > 0) {
    std::string names;
    for (int i = 0; i < n; ++i)
      names +=
          (i > 0 ? ", " : "") + std::string{PQgetvalue(taken->get(), i, 0)};
    auto total = number(taken->get(), 0, 1);
    if (total > static_cast<uint64_t>(n))
      names += ", ...";
    return make_error(journal_errc::conflict,
                      "import into " + where + ": the schema already holds " +
                          std::to_string(total) + " of the imported streams (" +
                          names + "); nothing was imported");
  }
  // The SQLite reads check this on every recovery; a gap here would become
  // a cart that cannot be read.
  auto gaps = exec(conn.get(),
                   "SELECT stream FROM cartd_import_events GROUP BY stream "
                   "HAVING min(seq) <> 1 OR max(seq) <> count(*) LIMIT 1",
                   PGRES_TUPLES_OK);
  if (!gaps)
    return in_target(std::move(gaps.error()));
  if (PQntuples(gaps->get()) > 0)
    return make_error(journal_errc::corrupt,
                      "import: the SQLite journal's stream " +
                          std::string{PQgetvalue(gaps->get(), 0, 0)} +
                          " has gaps in its sequence numbers; nothing was "
                          "imported");
  for (auto sql :
       {"INSERT INTO " + schema +
            ".events (stream, seq, payload, recorded_at, idempotency_key, "
            "request_digest, response, tag) SELECT stream, seq, payload, "
            "recorded_at, idempotency_key, request_digest, response, tag FROM "
            "cartd_import_events",
        "INSERT INTO " + schema +
            ".snapshots (stream, seq, state, recorded_at) SELECT stream, seq, "
            "state, recorded_at FROM cartd_import_snapshots"})
    if (auto res = exec(conn.get(), sql); !res)
      return in_target(std::move(res.error()));
  auto counts = exec(
      conn.get(),
      "SELECT (SELECT count(*) FROM (SELECT stream FROM cartd_import_events "
      "UNION SELECT stream FROM cartd_import_snapshots) u), (SELECT count(*) "
      "FROM cartd_import_events), (SELECT count(*) FROM "
      "cartd_import_snapshots), (SELECT count(*) FROM cartd_import_events "
      "WHERE idempotency_key IS NOT NULL)",
      PGRES_TUPLES_OK);
  if (!counts)
    return in_target(std::move(counts.error()));
  pg_import_summary summary;
  summary.streams = number(counts->get(), 0, 0);
  summary.events = number(counts->get(), 0, 1);
  summary.snapshots = number(counts->get(), 0, 2);
  summary.keys = number(counts->get(), 0, 3);
  if (auto res = exec(conn.get(), "COMMIT"); !res)
    return in_target(make_error(
        journal_errc::unknown_outcome,
        "COMMIT failed (" + text_of(res.error()) +
            "); run the import again: it refuses if the copy was stored"));
  return summary;
}

} // namespace cartd
