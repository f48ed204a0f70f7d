#include "runtime/journal/postgres/pg_journal.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include <poll.h>

#include <libpq-fe.h>

#include "runtime/journal/postgres/pg_support.hpp"

namespace cartd {

namespace {

using pg::conn_ptr;
using pg::one_line;
using pg::quote_ident;
using pg::redact;
using pg::result_ptr;
using pg::to_int;
using pg::to_text;

constexpr auto max_sql_int =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// The advisory lock every open takes while it checks or creates a schema,
// with hashtext(schema) as the second key: two nodes starting at once create
// the tables once. 0x63617274 is "cart".
constexpr const char* schema_lock_sql =
    "SELECT pg_advisory_xact_lock(1667330676, hashtext($1))";

// Type OIDs of the statements' parameters (pg_type.h).
constexpr Oid text_oid = 25;
constexpr Oid int8_oid = 20;

/// An array in PostgreSQL's text format: every element quoted, NULL for
/// none.
std::string array_literal(const std::vector<std::optional<std::string>>& xs) {
  std::string result = "{";
  for (auto& x : xs) {
    if (result.size() > 1)
      result += ',';
    if (!x) {
      result += "NULL";
      continue;
    }
    result += '"';
    for (auto c : *x) {
      if (c == '"' || c == '\\')
        result += '\\';
      result += c;
    }
    result += '"';
  }
  return result + "}";
}

/// One statement of a pipeline: a prepared statement's name, or SQL without
/// parameters.
struct call {
  const char* prepared = nullptr;
  const char* sql = nullptr;
  std::vector<std::optional<std::string>> params = {};
};

/// What came back from one pipeline.
struct exchange_result {
  enum status_t {
    /// Every call succeeded; `results` holds one result per call.
    done,
    /// Queuing call `failed_at` failed: it and the calls after it were never
    /// handed to the connection.
    not_sent,
    /// The server answered call `failed_at` with an error (`sqlstate`); the
    /// calls after it did not run.
    server_error,
    /// The connection broke before the answer to call `failed_at` arrived;
    /// the server may have run it and any after it.
    lost,
  };
  status_t status = done;
  size_t failed_at = 0;
  std::string sqlstate;
  std::string message;
  std::vector<result_ptr> results;
};

bool wait_for(PGconn* conn, short events, int timeout_ms = -1) {
  pollfd fd{PQsocket(conn), events, 0};
  if (fd.fd < 0)
    return false;
  for (;;) {
    auto rc = ::poll(&fd, 1, timeout_ms);
    if (rc >= 0)
      return rc > 0;
    if (errno != EINTR)
      return false;
  }
}

/// The next result of a pipeline, waiting for it; nullptr with `lost` set
/// when the connection broke.
result_ptr next_result(PGconn* conn, bool& lost) {
  while (PQisBusy(conn)) {
    if (!wait_for(conn, POLLIN) || !PQconsumeInput(conn)) {
      lost = true;
      return nullptr;
    }
  }
  return result_ptr{PQgetResult(conn)};
}

/// Sends `calls` in one pipeline (one round trip) and reads every answer.
/// The connection is non-blocking: while the requests go out, answers are
/// read as they arrive, so neither side waits on a full socket buffer.
exchange_result exchange(PGconn* conn, const std::vector<call>& calls) {
  exchange_result result;
  auto fail = [&](exchange_result::status_t status, size_t at) {
    result.status = status;
    result.failed_at = at;
    result.message = one_line(PQerrorMessage(conn));
    result.results.clear();
    return std::move(result);
  };
  if (!PQenterPipelineMode(conn))
    return fail(exchange_result::not_sent, 0);
  std::vector<const char*> values;
  for (size_t i = 0; i < calls.size(); ++i) {
    auto& x = calls[i];
    values.clear();
    for (auto& p : x.params)
      values.push_back(p ? p->c_str() : nullptr);
    auto n = static_cast<int>(values.size());
    auto ok = x.prepared != nullptr
                  ? PQsendQueryPrepared(conn, x.prepared, n, values.data(),
                                        nullptr, nullptr, 0)
                  : PQsendQueryParams(conn, x.sql, 0, nullptr, nullptr, nullptr,
                                      nullptr, 0);
    if (!ok)
      return fail(exchange_result::not_sent, i);
  }
  if (!PQpipelineSync(conn))
    return fail(exchange_result::lost, 0);
  for (;;) {
    auto rc = PQflush(conn);
    if (rc == 0)
      break;
    if (rc < 0)
      return fail(exchange_result::lost, 0);
    if (!wait_for(conn, POLLIN | POLLOUT) || !PQconsumeInput(conn))
      return fail(exchange_result::lost, 0);
  }
  bool lost = false;
  for (size_t i = 0; i < calls.size(); ++i) {
    auto res = next_result(conn, lost);
    if (lost || res == nullptr)
      return fail(exchange_result::lost, i);
    auto status = PQresultStatus(res.get());
    if (status == PGRES_FATAL_ERROR) {
      auto state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
      // libpq's own errors (a broken connection) carry no SQLSTATE.
      if (state == nullptr || PQstatus(conn) != CONNECTION_OK)
        return fail(exchange_result::lost, i);
      result.status = exchange_result::server_error;
      result.failed_at = i;
      result.sqlstate = state;
      result.message = one_line(PQresultErrorMessage(res.get()));
      result.results.clear();
      break;
    }
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
      return fail(exchange_result::lost, i);
    result.results.push_back(std::move(res));
    // Each statement's results end with a nullptr.
    if (auto end = next_result(conn, lost); lost || end != nullptr)
      return fail(exchange_result::lost, i + 1);
  }
  // After an error the server skips every call up to the sync point; libpq
  // answers them PGRES_PIPELINE_ABORTED. Drain them and the sync itself.
  for (;;) {
    auto res = next_result(conn, lost);
    if (lost) {
      if (result.status == exchange_result::done)
        return fail(exchange_result::lost, calls.size());
      return result;
    }
    if (res != nullptr && PQresultStatus(res.get()) == PGRES_PIPELINE_SYNC)
      break;
  }
  PQexitPipelineMode(conn);
  // A failed explicit transaction stays open (aborted) after the sync.
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    result_ptr{PQexec(conn, "ROLLBACK")};
  return result;
}

/// Whether the server ended the connection while it was idle (a restart,
/// an administrator's pg_terminate_backend): then it has sent an error and
/// closed the socket, and the next request would fail after it was sent.
bool closed_while_idle(PGconn* conn) {
  for (int i = 0; i < 8; ++i) {
    if (PQstatus(conn) != CONNECTION_OK)
      return true;
    if (!wait_for(conn, POLLIN, 0))
      return false;
    if (!PQconsumeInput(conn))
      return true;
  }
  return PQstatus(conn) != CONNECTION_OK;
}

/// The membership table and the one-row view counter (schema version 2;
/// `transport` since version 3), exactly as docs/journal-format.md shows
/// them. `s` is the quoted schema.
std::vector<std::string> membership_tables(const std::string& s) {
  return {
      "CREATE TABLE " + s +
          ".members (\n"
          "  name text COLLATE \"C\" PRIMARY KEY,\n"
          "  incarnation bigint NOT NULL,\n"
          "  http text NOT NULL,\n"
          "  cluster text NOT NULL,\n"
          "  status text NOT NULL CHECK (status IN ('up', 'leaving')),\n"
          "  since timestamptz NOT NULL,\n"
          "  lease_expires timestamptz NOT NULL,\n"
          "  view_seen bigint NOT NULL DEFAULT 0,\n"
          "  transport text NOT NULL DEFAULT 'plain'\n"
          ")",
      "CREATE TABLE " + s +
          ".cluster_view (\n"
          "  one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row),\n"
          "  number bigint NOT NULL\n"
          ")",
      "INSERT INTO " + s + ".cluster_view VALUES (true, 0)",
  };
}

/// SQLSTATE of the fence statement when this node's row is not there
/// (division_by_zero: 1 / the number of rows it locked).
constexpr const char* fenced_sqlstate = "22012";

/// How long a journal connection may sit inside a transaction without
/// sending anything before the server ends it. Appends are pipelined with
/// their COMMIT, so a healthy writer never idles inside one; a writer frozen
/// halfway through sending a batch must not keep its member row locked (a
/// survivor's DELETE waits for that lock) for longer than this.
constexpr const char* idle_in_transaction_timeout =
    "SET idle_in_transaction_session_timeout = 1000";

} // namespace

// -- the connection -----------------------------------------------------------

/// One libpq connection with the journal's prepared statements.
class pg_journal::connection {
public:
  /// Connects within `opts.connect_timeout`; sets `where` to what the
  /// connection reached (no password).
  static caf::expected<std::unique_ptr<connection>> open(const pg_options& opts,
                                                         std::string& where);

  PGconn* get() const noexcept { return conn_.get(); }

  /// Creates the schema when missing, checks its version.
  caf::error init_schema(const pg_options& opts, const std::string& where);

  /// Prepares the statements; the connection becomes non-blocking.
  caf::error prepare(const pg_options& opts, const std::string& where);

  /// libpq's last message, without the password.
  std::string last_error() const {
    return redact(one_line(PQerrorMessage(conn_.get())), password_);
  }

  const std::string& password() const noexcept { return password_; }

private:
  conn_ptr conn_;
  std::string password_;
};

namespace {

std::string where_of(PGconn* conn, const std::string& schema) {
  auto str = [](const char* x) { return std::string{x != nullptr ? x : ""}; };
  return "host=" + str(PQhost(conn)) + " port=" + str(PQport(conn)) +
         " dbname=" + str(PQdb(conn)) + " schema=" + schema;
}

caf::error open_error(const std::string& where, const std::string& why) {
  return make_error(journal_errc::unavailable,
                    "cannot open the PostgreSQL journal at " + where + ": " +
                        why);
}

/// A message of libpq's parser may quote a piece of the connection string
/// (such as a badly percent-encoded password): the quoted pieces go.
std::string without_quoted(const std::string& x) {
  std::string result;
  bool quoted = false;
  for (auto c : x) {
    if (c == '"') {
      result += quoted ? "\"" : "\"...";
      quoted = !quoted;
    } else if (!quoted) {
      result += c;
    }
  }
  return result;
}

} // namespace

caf::expected<std::unique_ptr<pg_journal::connection>>
pg_journal::connection::open(const pg_options& opts, std::string& where) {
  where = "schema=" + opts.schema;
  std::string password;
  if (std::string why; !pg::password_in(opts.conninfo, password, why))
    return open_error(where, "invalid connection string (" +
                                 without_quoted(why) + ")");
  // Defaults first: the connection string (expanded from dbname) overrides
  // them. Keepalives and tcp_user_timeout make a dead server or a cut
  // network show up as a broken connection within seconds instead of a
  // commit that waits for minutes.
  const char* keys[] = {
      "keepalives",       "keepalives_idle",  "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "application_name",
      "dbname",           "client_encoding",  nullptr};
  const char* values[] = {
      "1",    "5",    "2", "3", "10000", "cartd", opts.conninfo.c_str(),
      "UTF8", nullptr};
  conn_ptr conn{PQconnectStartParams(keys, values, 1)};
  if (conn == nullptr)
    return open_error(where, "out of memory");
  where = where_of(conn.get(), opts.schema);
  auto fail = [&](const std::string& why) {
    return open_error(where, redact(why, password));
  };
  if (PQstatus(conn.get()) == CONNECTION_BAD)
    return fail(one_line(PQerrorMessage(conn.get())));
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + opts.connect_timeout;
  auto state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED)
      return fail(one_line(PQerrorMessage(conn.get())));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock::now());
    if (left.count() <= 0 ||
        !wait_for(conn.get(), state == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                  static_cast<int>(left.count())))
      return fail(
          "no connection within " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                             opts.connect_timeout)
                             .count()) +
          " ms");
    state = PQconnectPoll(conn.get());
  }
  where = where_of(conn.get(), opts.schema);
  // Notices (such as the server's warning before it ends a connection) are
  // not for stderr: every failure reaches the caller as a value.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  std::unique_ptr<connection> result{new connection};
  result->conn_ = std::move(conn);
  result->password_ = std::move(password);
  return result;
}

caf::error pg_journal::connection::init_schema(const pg_options& opts,
                                               const std::string& where) {
  auto* conn = conn_.get();
  auto s = quote_ident(opts.schema);
  auto fail = [&](const std::string& why) {
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
      result_ptr{PQexec(conn, "ROLLBACK")};
    return open_error(where, redact(why, password_));
  };
  auto exec = [&](const std::string& sql,
                  std::optional<std::string> param = std::nullopt) {
    const char* value = param ? param->c_str() : nullptr;
    result_ptr res{PQexecParams(conn, sql.c_str(), param ? 1 : 0, nullptr,
                                &value, nullptr, nullptr, 0)};
    auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return std::pair{result_ptr{}, one_line(PQerrorMessage(conn))};
    return std::pair{std::move(res), std::string{}};
  };
  if (auto [res, err] = exec("BEGIN"); !res)
    return fail(err);
  if (auto [res, err] = exec(schema_lock_sql, opts.schema); !res)
    return fail(err);
  // Whether the schema exists, whether it has a version table, and how many
  // relations it holds.
  auto [probe, err] =
      exec("SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1), "
           "(SELECT count(*) FROM pg_class c JOIN pg_namespace n "
           " ON n.oid = c.relnamespace WHERE n.nspname = $1 "
           " AND c.relname = 'schema_version'), "
           "(SELECT count(*) FROM pg_class c JOIN pg_namespace n "
           " ON n.oid = c.relnamespace WHERE n.nspname = $1)",
           opts.schema);
  if (!probe)
    return fail(err);
  auto has_version = to_int(probe.get(), 0, 1) > 0;
  auto relations = to_int(probe.get(), 0, 2);
  if (has_version) {
    auto [res, err] = exec("SELECT max(version) FROM " + s + ".schema_version");
    if (!res)
      return fail(err);
    auto version =
        PQgetisnull(res.get(), 0, 0) ? int64_t{0} : to_int(res.get(), 0, 0);
    if (version == 1 || version == 2) {
      // Version 2 adds the membership table and the view counter, version 3
      // the members' transport (what their node-to-node links speak); the
      // journal's tables stay as they are. Upgraded in place, under the
      // lock every open takes, in the transaction that checked the version.
      if (version == 1) {
        for (auto& sql : membership_tables(s))
          if (auto [res, err] = exec(sql); !res)
            return fail(err);
      } else if (auto [res, err] =
                     exec("ALTER TABLE " + s +
                          ".members ADD COLUMN transport text NOT NULL DEFAULT "
                          "'plain'");
                 !res) {
        return fail(err);
      }
      if (auto [res, err] =
              exec("UPDATE " + s + ".schema_version SET version = " +
                   std::to_string(pg_journal::schema_version));
          !res)
        return fail(err);
    } else if (version != pg_journal::schema_version) {
      return fail("unsupported schema version " + std::to_string(version) +
                  " (this cartd reads version " +
                  std::to_string(pg_journal::schema_version) + ")");
    }
  } else if (relations > 0) {
    return fail("not a cartd journal (the schema holds tables but no "
                "schema_version)");
  } else {
    // The tables exactly as docs/journal-format.md shows them.
    std::string statements[] = {
        "CREATE SCHEMA IF NOT EXISTS " + s,
        "CREATE TABLE " + s +
            ".events (\n"
            "  stream text COLLATE \"C\" NOT NULL,\n"
            "  seq bigint NOT NULL,\n"
            "  payload text NOT NULL,\n"
            "  recorded_at bigint NOT NULL,\n"
            "  idempotency_key text,\n"
            "  request_digest text,\n"
            "  response text,\n"
            "  tag bigint NOT NULL DEFAULT 0,\n"
            "  PRIMARY KEY (stream, seq)\n"
            ")",
        "CREATE INDEX events_idempotency ON " + s +
            ".events (stream, recorded_at)\n"
            "  WHERE idempotency_key IS NOT NULL",
        "CREATE TABLE " + s +
            ".snapshots (\n"
            "  stream text COLLATE \"C\" PRIMARY KEY,\n"
            "  seq bigint NOT NULL,\n"
            "  state text NOT NULL,\n"
            "  recorded_at bigint NOT NULL\n"
            ")",
        "CREATE TABLE " + s + ".schema_version (version integer NOT NULL)",
        "INSERT INTO " + s + ".schema_version VALUES (" +
            std::to_string(pg_journal::schema_version) + ")",
    };
    for (auto& sql : statements)
      if (auto [res, err] = exec(sql); !res)
        return fail(err);
    for (auto& sql : membership_tables(s))
      if (auto [res, err] = exec(sql); !res)
        return fail(err);
  }
  if (auto [res, err] = exec("COMMIT"); !res)
    return fail(err);
  return {};
}

caf::error pg_journal::connection::prepare(const pg_options& opts,
                                           const std::string& where) {
  auto* conn = conn_.get();
  auto s = quote_ident(opts.schema);
  auto events = s + ".events";
  auto snapshots = s + ".snapshots";
  // The one rule for many appends in one statement, one row per append
  // (docs/journal-format.md, "PostgreSQL"); no two of them extend the same
  // stream. $1 streams, $2 expected seqs, $3 expected tags, $4 tags, $5
  // numbers of events, $6 keys, $7 digests, $8 responses, $9 snapshots,
  // $10 the events of all appends in order, $11 now. An append's first event
  // is inserted iff event `exp` carries tag `exp_tag` (`ok`) and event
  // `exp` + 1 does not exist (the primary key: ON CONFLICT DO NOTHING); its
  // other events and its snapshot follow only if that row landed (`landed`
  // reads the rows `first` returned). An append without events lands iff
  // `ok` holds and event `exp` + 1 does not exist. Per append: whether it
  // landed and, if not, the stream's last seq and the tag of event
  // `exp` + 1 (append_batch_again's test).
  auto columns =
      std::string{" (stream, seq, payload, recorded_at,\n"
                  "    idempotency_key, request_digest, response, tag)\n"};
  auto append_sql =
      "WITH req AS (\n"
      "  SELECT r.*, (sum(r.n) OVER (ORDER BY r.i) - r.n)::int AS off\n"
      "  FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],\n"
      "    $5::int[], $6::text[], $7::text[], $8::text[], $9::text[])\n"
      "    WITH ORDINALITY\n"
      "    AS r(stream, exp, exp_tag, tag, n, key, digest, response,\n"
      "         snapshot, i)\n"
      "), ok AS (\n"
      "  SELECT * FROM req r WHERE r.exp = 0 OR (SELECT e.tag FROM " +
      events +
      " AS e\n"
      "    WHERE e.stream = r.stream AND e.seq = r.exp) = r.exp_tag\n"
      "), first AS (\n"
      "  INSERT INTO " +
      events + columns +
      "  SELECT stream, exp + 1, ($10::text[])[off + 1], $11::bigint,\n"
      "    CASE WHEN n = 1 THEN key END, CASE WHEN n = 1 THEN digest END,\n"
      "    CASE WHEN n = 1 THEN response END, tag\n"
      "  FROM ok WHERE n > 0 ORDER BY stream\n"
      "  ON CONFLICT (stream, seq) DO NOTHING\n"
      "  RETURNING stream\n"
      "), landed AS (\n"
      "  SELECT * FROM ok WHERE (stream IN (SELECT stream FROM first)) IS "
      "TRUE\n"
      "  UNION ALL\n"
      "  SELECT * FROM ok WHERE n = 0 AND (SELECT 1 FROM " +
      events +
      " AS e\n"
      "    WHERE e.stream = ok.stream AND e.seq = ok.exp + 1) IS NULL\n"
      "), rest AS (\n"
      "  INSERT INTO " +
      events + columns +
      "  SELECT l.stream, l.exp + j, ($10::text[])[l.off + j], $11::bigint,\n"
      "    CASE WHEN j = l.n THEN l.key END,\n"
      "    CASE WHEN j = l.n THEN l.digest END,\n"
      "    CASE WHEN j = l.n THEN l.response END, l.tag\n"
      "  FROM landed AS l, generate_series(2, l.n) AS j\n"
      "), snap AS (\n"
      "  INSERT INTO " +
      snapshots +
      " (stream, seq, state, recorded_at)\n"
      "  SELECT stream, exp + n, snapshot, $11::bigint FROM landed\n"
      "  WHERE snapshot IS NOT NULL\n"
      "  ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq,\n"
      "    state = excluded.state, recorded_at = excluded.recorded_at\n"
      ")\n"
      "SELECT l.stream IS NOT NULL,\n"
      "  CASE WHEN l.stream IS NULL THEN (SELECT coalesce(max(e.seq), 0)\n"
      "    FROM " +
      events +
      " AS e WHERE e.stream = r.stream) END,\n"
      "  CASE WHEN l.stream IS NULL THEN (SELECT e.tag FROM " +
      events +
      " AS e\n"
      "    WHERE e.stream = r.stream AND e.seq = r.exp + 1) END\n"
      "FROM req AS r LEFT JOIN landed AS l USING (stream) ORDER BY r.i";
  struct entry {
    const char* name;
    std::string sql;
    std::vector<Oid> types;
  };
  // The fence (see journal_fence): locks this member's row, which a
  // survivor's DELETE of it waits for, and fails (1 / 0) when no row of this
  // name and incarnation holds a lease by the database's clock, so the
  // transaction stores nothing. $1 name, $2 incarnation.
  auto fence_sql = "SELECT 1 / count(*) FROM (SELECT 1 FROM " + s +
                   ".members WHERE name = $1 AND incarnation = $2 AND "
                   "lease_expires >= now() FOR KEY SHARE) AS m";
  entry entries[] = {
      {"fence", fence_sql, {text_oid, int8_oid}},
      {"append", append_sql, {}},
      // With the tag of the event the snapshot ends with.
      {"snapshot",
       "SELECT s.seq, s.state, e.tag FROM " + snapshots + " AS s LEFT JOIN " +
           events +
           " AS e ON e.stream = s.stream AND e.seq = s.seq "
           "WHERE s.stream = $1",
       {text_oid}},
      {"events_after_snapshot",
       "SELECT seq, payload, tag FROM " + events +
           " WHERE stream = $1 AND seq > coalesce((SELECT seq FROM " +
           snapshots + " WHERE stream = $1), 0) ORDER BY seq",
       {text_oid}},
      {"keys",
       "SELECT idempotency_key, request_digest, response, seq, recorded_at "
       "FROM " +
           events +
           " WHERE stream = $1 AND idempotency_key IS NOT NULL "
           "AND recorded_at >= $2 ORDER BY seq",
       {text_oid, int8_oid}},
      {"replay",
       "SELECT seq, payload, tag FROM " + events +
           " WHERE stream = $1 AND seq > $2 ORDER BY seq",
       {text_oid, int8_oid}},
  };
  // The statements' plans do not depend on their parameters: plan each once
  // instead of five custom plans first.
  for (auto sql : {"SET plan_cache_mode = force_generic_plan",
                   idle_in_transaction_timeout}) {
    result_ptr set{PQexec(conn, sql)};
    if (PQresultStatus(set.get()) != PGRES_COMMAND_OK)
      return open_error(where, last_error());
  }
  for (auto& x : entries) {
    result_ptr res{PQprepare(conn, x.name, x.sql.c_str(),
                             static_cast<int>(x.types.size()), x.types.data())};
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
      return open_error(where, std::string{"cannot prepare "} + x.name + ": " +
                                   last_error());
  }
  if (PQsetnonblocking(conn, 1) != 0)
    return open_error(where, last_error());
  return {};
}

// -- construction -------------------------------------------------------------

pg_journal::pg_journal(pg_options opts) : opts_(std::move(opts)) {
  where_ = "schema=" + opts_.schema;
}

pg_journal::~pg_journal() {
  // nop
}

caf::expected<std::unique_ptr<pg_journal>> pg_journal::open(pg_options opts) {
  std::unique_ptr<pg_journal> result{new pg_journal(std::move(opts))};
  auto conn = connection::open(result->opts_, result->where_);
  if (!conn)
    return std::move(conn.error());
  if (auto err = (*conn)->init_schema(result->opts_, result->where_))
    return err;
  if (auto err = (*conn)->prepare(result->opts_, result->where_))
    return err;
  result->conn_ = std::move(*conn);
  return result;
}

caf::expected<std::unique_ptr<journal_backend>> pg_journal::open_reader() {
  auto reader = open(opts_);
  if (!reader)
    return std::move(reader.error());
  return std::unique_ptr<journal_backend>{std::move(*reader)};
}

bool pg_journal::connected() const noexcept {
  return conn_ != nullptr && PQstatus(conn_->get()) == CONNECTION_OK;
}

caf::error pg_journal::ensure_connected() {
  if (conn_ != nullptr && !closed_while_idle(conn_->get()))
    return {};
  conn_.reset();
  auto conn = connection::open(opts_, where_);
  if (!conn)
    return std::move(conn.error());
  if (auto err = (*conn)->prepare(opts_, where_))
    return err;
  conn_ = std::move(*conn);
  return {};
}

// -- modifiers ----------------------------------------------------------------

std::vector<caf::expected<uint64_t>>
pg_journal::append_batch(const std::vector<journal_append>& batch) {
  return write(batch, false);
}

std::vector<caf::expected<uint64_t>>
pg_journal::append_batch_again(const std::vector<journal_append>& batch) {
  return write(batch, true);
}

std::vector<caf::expected<uint64_t>>
pg_journal::write(const std::vector<journal_append>& batch, bool again) {
  std::vector<caf::expected<uint64_t>> result;
  if (batch.empty())
    return result;
  auto fail_all = [&](const caf::error& err) {
    result.clear();
    for (size_t i = 0; i < batch.size(); ++i)
      result.emplace_back(err);
    return std::move(result);
  };
  auto what = "cannot commit " + std::to_string(batch.size()) + " appends to " +
              where_ + ": ";
  for (auto& req : batch)
    if (req.expected_seq + req.payloads.size() > max_sql_int)
      return fail_all(make_error(journal_errc::unavailable,
                                 what + "sequence number out of range"));
  auto& fence = opts_.fence;
  auto incarnation =
      fence != nullptr ? fence->incarnation.load(std::memory_order_acquire) : 0;
  auto fenced = [&] {
    auto who = "this node (" + fence->member + ", incarnation " +
               std::to_string(incarnation) +
               ") is no longer a member of the cluster";
    // A retry of a batch whose outcome is unknown learns nothing about the
    // first attempt when it is fenced: still unknown.
    if (again)
      return fail_all(make_error(journal_errc::unknown_outcome,
                                 what + who +
                                     ", so whether an earlier attempt stored "
                                     "them cannot be checked"));
    return fail_all(
        make_error(journal_errc::fenced, what + who + "; nothing was stored"));
  };
  if (fence != nullptr && incarnation == 0)
    return fenced();
  if (auto err = ensure_connected())
    return fail_all(err);
  // Rounds: the k-th append to each stream goes into statement k, so no
  // statement extends one stream twice and appends to one stream chain (a
  // statement sees the rows of the ones before it).
  std::vector<std::vector<size_t>> rounds;
  {
    std::unordered_map<std::string, size_t> appends_to;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& req = batch[i];
      if (req.payloads.empty() && !req.idempotency_key.empty())
        continue; // answered below, without a statement
      auto k = appends_to[req.stream]++;
      if (k == rounds.size())
        rounds.emplace_back();
      rounds[k].push_back(i);
    }
  }
  auto now = std::to_string(journal_now_ms());
  std::vector<call> calls;
  calls.reserve(rounds.size() + 3);
  calls.push_back(call{nullptr, "BEGIN"});
  if (fence != nullptr)
    calls.push_back(
        call{"fence", nullptr, {fence->member, std::to_string(incarnation)}});
  auto first_append = calls.size();
  for (auto& round : rounds) {
    std::vector<std::optional<std::string>> streams, seqs, expected_tags, tags,
        counts, keys, digests, responses, snapshots, events;
    for (auto i : round) {
      auto& req = batch[i];
      streams.emplace_back(req.stream);
      seqs.emplace_back(std::to_string(req.expected_seq));
      // Tags are stored as the signed 64-bit integer with the same bits.
      expected_tags.emplace_back(
          std::to_string(static_cast<int64_t>(req.expected_tag)));
      tags.emplace_back(std::to_string(static_cast<int64_t>(req.tag)));
      counts.emplace_back(std::to_string(req.payloads.size()));
      auto keyed = !req.idempotency_key.empty();
      keys.emplace_back(keyed ? std::optional{req.idempotency_key}
                              : std::nullopt);
      digests.emplace_back(keyed ? std::optional{req.request_digest}
                                 : std::nullopt);
      responses.emplace_back(keyed ? std::optional{req.response}
                                   : std::nullopt);
      snapshots.emplace_back(
          req.snapshot.empty() ? std::nullopt : std::optional{req.snapshot});
      for (auto& x : req.payloads)
        events.emplace_back(x);
    }
    calls.push_back(
        call{"append",
             nullptr,
             {array_literal(streams), array_literal(seqs),
              array_literal(expected_tags), array_literal(tags),
              array_literal(counts), array_literal(keys),
              array_literal(digests), array_literal(responses),
              array_literal(snapshots), array_literal(events), now}});
  }
  calls.push_back(call{nullptr, "COMMIT"});
  auto commit = calls.size() - 1;
  auto ex = exchange(conn_->get(), calls);
  if (ex.status != exchange_result::done) {
    auto why = redact(ex.message, conn_->password());
    auto broken = PQstatus(conn_->get()) != CONNECTION_OK ||
                  ex.status != exchange_result::server_error;
    // COMMIT was handed to the connection unless queuing failed before it;
    // unless the server refused a statement before COMMIT, it may have run.
    // A server error at COMMIT that ends the connection (class 57, operator
    // intervention, or 08, connection) may have come after the commit.
    auto unknown =
        (ex.status == exchange_result::lost) ||
        (ex.status == exchange_result::not_sent && ex.failed_at >= commit) ||
        (ex.status == exchange_result::server_error && ex.failed_at == commit &&
         (ex.sqlstate.rfind("57", 0) == 0 || ex.sqlstate.rfind("08", 0) == 0));
    if (broken)
      conn_.reset();
    if (fence != nullptr && ex.status == exchange_result::server_error &&
        ex.failed_at == 1 && ex.sqlstate == fenced_sqlstate)
      return fenced();
    if (unknown)
      return fail_all(
          make_error(journal_errc::unknown_outcome,
                     "lost the connection during COMMIT of " +
                         std::to_string(batch.size()) + " appends to " +
                         where_ + ": they may have been stored (" + why + ")"));
    return fail_all(make_error(journal_errc::unavailable, what + why));
  }
  result.resize(batch.size(), caf::expected<uint64_t>{0});
  for (auto& req : batch)
    if (req.payloads.empty() && !req.idempotency_key.empty())
      // The record lives on the append's last event row; with no event
      // there is nowhere to keep it, and dropping it silently would let a
      // retry run twice.
      result[static_cast<size_t>(&req - batch.data())] =
          make_error(journal_errc::unavailable, "an append with an idempotency "
                                                "key needs at least one event");
  for (size_t k = 0; k < rounds.size(); ++k) {
    auto* res = ex.results[k + first_append].get();
    if (PQntuples(res) != static_cast<int>(rounds[k].size()))
      return fail_all(make_error(journal_errc::unavailable,
                                 what + "unexpected answer to an append"));
    for (int row = 0; row < PQntuples(res); ++row) {
      auto i = rounds[k][static_cast<size_t>(row)];
      auto& req = batch[i];
      auto landed = PQgetvalue(res, row, 0)[0] == 't';
      auto stored = again && !landed && req.tag != 0 && !req.payloads.empty() &&
                    !PQgetisnull(res, row, 2) &&
                    to_int(res, row, 2) == static_cast<int64_t>(req.tag);
      if (landed || stored)
        result[i] = req.expected_seq + req.payloads.size();
      else
        result[i] = make_error(journal_errc::conflict,
                               req.stream + " is at " +
                                   std::to_string(to_int(res, row, 1)));
    }
  }
  return result;
}

// -- inspectors ---------------------------------------------------------------

namespace {

/// Reads `res`'s (seq, payload, tag) rows after `after_seq`; false at a gap.
bool read_events(const PGresult* res, uint64_t after_seq,
                 std::vector<journal_event>& result, uint64_t* last_tag) {
  auto next = after_seq + 1;
  for (int row = 0; row < PQntuples(res); ++row) {
    auto seq = static_cast<uint64_t>(to_int(res, row, 0));
    if (seq != next++)
      return false;
    result.push_back(journal_event{seq, to_text(res, row, 1)});
    if (last_tag != nullptr)
      *last_tag = static_cast<uint64_t>(to_int(res, row, 2));
  }
  return true;
}

} // namespace

caf::expected<journal_recovery> pg_journal::recover(const std::string& stream,
                                                    int64_t keys_since_ms) {
  auto what = "cannot recover " + stream + " from " + where_ + ": ";
  if (auto err = ensure_connected())
    return err;
  std::vector<call> calls{
      call{nullptr, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"},
      call{"snapshot", nullptr, {stream}},
      call{"events_after_snapshot", nullptr, {stream}},
      call{"keys", nullptr, {stream, std::to_string(keys_since_ms)}},
      call{nullptr, "COMMIT"},
  };
  auto ex = exchange(conn_->get(), calls);
  if (ex.status != exchange_result::done) {
    auto why = redact(ex.message, conn_->password());
    if (PQstatus(conn_->get()) != CONNECTION_OK ||
        ex.status != exchange_result::server_error)
      conn_.reset();
    return make_error(journal_errc::unavailable, what + why);
  }
  journal_recovery result;
  auto* snap = ex.results[1].get();
  if (PQntuples(snap) == 1) {
    result.snapshot_seq = static_cast<uint64_t>(to_int(snap, 0, 0));
    result.snapshot = to_text(snap, 0, 1);
    // NULL (0) when the snapshot ends with no event.
    if (!PQgetisnull(snap, 0, 2))
      result.last_tag = static_cast<uint64_t>(to_int(snap, 0, 2));
  }
  if (!read_events(ex.results[2].get(), result.snapshot_seq, result.events,
                   &result.last_tag))
    return make_error(journal_errc::corrupt,
                      "events of " + stream + " in " + where_ +
                          " have a gap after sequence number " +
                          std::to_string(result.snapshot_seq));
  auto* keys = ex.results[3].get();
  for (int row = 0; row < PQntuples(keys); ++row)
    result.idempotency.push_back(idempotency_record{
        to_text(keys, row, 0), to_text(keys, row, 1), to_text(keys, row, 2),
        static_cast<uint64_t>(to_int(keys, row, 3)), to_int(keys, row, 4)});
  return result;
}

caf::expected<std::vector<journal_event>>
pg_journal::replay(const std::string& stream, uint64_t after_seq) {
  std::vector<journal_event> result;
  if (after_seq >= max_sql_int)
    return result;
  if (auto err = ensure_connected())
    return err;
  // One statement: one consistent snapshot of the stream.
  std::vector<call> calls{
      call{"replay", nullptr, {stream, std::to_string(after_seq)}}};
  auto ex = exchange(conn_->get(), calls);
  if (ex.status != exchange_result::done) {
    auto why = redact(ex.message, conn_->password());
    if (PQstatus(conn_->get()) != CONNECTION_OK ||
        ex.status != exchange_result::server_error)
      conn_.reset();
    return make_error(journal_errc::unavailable, "cannot replay " + stream +
                                                     " from " + where_ + ": " +
                                                     why);
  }
  if (!read_events(ex.results[0].get(), after_seq, result, nullptr))
    return make_error(journal_errc::corrupt,
                      "events of " + stream + " in " + where_ +
                          " have a gap after sequence number " +
                          std::to_string(after_seq));
  return result;
}

const char* pg_journal::name() const noexcept {
  return "postgres";
}

} // namespace cartd
