#include "runtime/cluster/postgres/pg_member_store.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <poll.h>

#include <libpq-fe.h>

#include "runtime/journal/postgres/pg_support.hpp"

#include <caf/message.hpp>

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;
using pg::conn_ptr;
using pg::one_line;
using pg::quote_ident;
using pg::redact;
using pg::result_ptr;
using pg::to_int;
using pg::to_text;

/// The channel every cartd schema notifies on; the payload names the schema
/// (so one database may hold several deployments' schemas).
constexpr const char* channel = "cartd_members";

int64_t to_ms(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
}

/// Waits until the socket is ready for `events` or `deadline` passed.
bool wait_until(PGconn* conn, short events, clock_type::time_point deadline) {
  pollfd fd{PQsocket(conn), events, 0};
  if (fd.fd < 0)
    return false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock_type::now())
                    .count();
    if (left < 0)
      left = 0;
    auto rc = ::poll(&fd, 1, static_cast<int>(left));
    if (rc > 0)
      return true;
    if (rc == 0)
      return false;
    if (errno != EINTR)
      return false;
  }
}

class pg_member_store : public member_store {
public:
  pg_member_store(pg_options opts, std::string transport)
      : opts_(std::move(opts)), transport_(std::move(transport)),
        s_(quote_ident(opts_.schema)), timeout_(opts_.connect_timeout) {
    where_ = "schema=" + opts_.schema;
  }

  caf::error connect() { return ensure_connected(deadline_from_now()); }

  /// member_errc::transport_mismatch when a live member speaks another
  /// transport (no lock: join checks again under the view's row lock).
  caf::error check_transport(const std::string& what) {
    caf::error refusal;
    if (auto err = other_transport(deadline_from_now(), what, refusal))
      return err;
    return refusal;
  }

  // -- modifiers --------------------------------------------------------------

  caf::expected<uint64_t> join(const cluster_member& self,
                               caf::timespan lease) override {
    auto what = "cannot join as " + self.name;
    auto deadline = deadline_from_now();
    if (auto err = begin(deadline, what))
      return err;
    // A lapsed row of this name goes first, the same DELETE a survivor runs
    // (it waits for that incarnation's appends in flight). Never an UPDATE
    // of the incarnation: an UPDATE of a non-key column does not conflict
    // with the fence's FOR KEY SHARE.
    auto gone = exec("DELETE FROM " + s_ +
                         ".members WHERE name = $1 AND lease_expires < now()",
                     {self.name}, deadline, what);
    if (!gone)
      return std::move(gone.error());
    auto holder = exec("SELECT incarnation, (extract(epoch FROM lease_expires "
                       "- now()) * 1000)::bigint FROM " +
                           s_ + ".members WHERE name = $1",
                       {self.name}, deadline, what);
    if (!holder)
      return std::move(holder.error());
    if (PQntuples(holder->get()) > 0) {
      rollback();
      return taken(self.name, to_int(holder->get(), 0, 0),
                   to_int(holder->get(), 0, 1));
    }
    auto view = bump_view(deadline, what);
    if (!view)
      return std::move(view.error());
    // After the view's row lock (bump_view): joins are serialized, so of two
    // nodes with different transports only the first joins.
    caf::error refusal;
    if (auto err = other_transport(deadline, what, refusal))
      return err;
    if (refusal) {
      rollback();
      return refusal;
    }
    auto ins = exec("INSERT INTO " + s_ +
                        ".members (name, incarnation, http, cluster, status, "
                        "since, lease_expires, view_seen, transport) VALUES "
                        "($1, $2, $3, $4, 'up', now(), now() + $5 * interval "
                        "'1 millisecond', 0, $6)",
                    {self.name, std::to_string(*view), self.http, self.cluster,
                     std::to_string(to_ms(lease)), transport_},
                    deadline, what);
    if (!ins) {
      // Another node of the same name joined between our check and insert.
      if (last_sqlstate_ == "23505")
        return make_error(member_errc::name_taken,
                          what + ": another node of that name joined at the "
                                 "same moment");
      return std::move(ins.error());
    }
    if (auto err = notify_and_commit(deadline, what))
      return err;
    // The incarnation is the view number of the join: unique, never 0.
    return *view;
  }

  caf::error renew(const std::string& name, uint64_t incarnation,
                   caf::timespan lease) override {
    auto what = "cannot renew the lease of " + name;
    auto deadline = deadline_from_now();
    auto res =
        exec("UPDATE " + s_ +
                 ".members SET lease_expires = now() + $3 * interval "
                 "'1 millisecond' WHERE name = $1 AND incarnation = $2 "
                 "AND lease_expires >= now()",
             {name, std::to_string(incarnation), std::to_string(to_ms(lease))},
             deadline, what);
    if (!res)
      return std::move(res.error());
    if (affected(*res) == 0)
      return lost(name, incarnation, "its lease lapsed or it was removed");
    return {};
  }

  caf::error ack_view(const std::string& name, uint64_t incarnation,
                      uint64_t view) override {
    auto what =
        "cannot acknowledge view " + std::to_string(view) + " as " + name;
    auto deadline = deadline_from_now();
    auto res = exec(
        "WITH u AS (UPDATE " + s_ +
            ".members SET view_seen = greatest(view_seen, $3) "
            "WHERE name = $1 AND incarnation = $2 RETURNING 1) "
            "SELECT (SELECT count(*) FROM u), pg_notify('" +
            channel + "', $4)",
        {name, std::to_string(incarnation), std::to_string(view), opts_.schema},
        deadline, what);
    if (!res)
      return std::move(res.error());
    if (to_int(res->get(), 0, 0) == 0)
      return lost(name, incarnation, "its row is gone");
    return {};
  }

  caf::expected<uint64_t> mark_leaving(const std::string& name,
                                       uint64_t incarnation) override {
    auto what = "cannot mark " + name + " leaving";
    auto deadline = deadline_from_now();
    // One statement: the status change, the view bump (only when the status
    // changed) and the notification commit together.
    auto res =
        exec("WITH m AS (UPDATE " + s_ +
                 ".members SET status = 'leaving' WHERE name = $1 AND "
                 "incarnation = $2 AND status = 'up' RETURNING 1), "
                 "v AS (UPDATE " +
                 s_ +
                 ".cluster_view SET number = number + 1 WHERE EXISTS "
                 "(SELECT 1 FROM m) RETURNING number) "
                 "SELECT (SELECT count(*) FROM " +
                 s_ +
                 ".members WHERE name = $1 AND incarnation = $2), "
                 "coalesce((SELECT number FROM v), (SELECT number FROM " +
                 s_ + ".cluster_view)), (SELECT pg_notify('" + channel +
                 "', $3) FROM v)",
             {name, std::to_string(incarnation), opts_.schema}, deadline, what);
    if (!res)
      return std::move(res.error());
    if (to_int(res->get(), 0, 0) == 0)
      return lost(name, incarnation, "its row is gone");
    return static_cast<uint64_t>(to_int(res->get(), 0, 1));
  }

  caf::expected<bool> remove_lapsed(const std::string& name,
                                    uint64_t incarnation) override {
    return remove(name, incarnation, true,
                  "cannot remove the lapsed member " + name);
  }

  caf::error leave(const std::string& name, uint64_t incarnation) override {
    auto res = remove(name, incarnation, false, "cannot leave as " + name);
    if (!res)
      return std::move(res.error());
    return {};
  }

  // -- inspectors -------------------------------------------------------------

  caf::expected<member_view_read> read_view() override {
    auto what = std::string{"cannot read the members"};
    auto deadline = deadline_from_now();
    // One statement: one snapshot of the counter and the rows.
    auto res = exec(
        "SELECT v.number, m.name, m.incarnation, m.http, m.cluster, m.status, "
        "(extract(epoch FROM m.since) * 1000)::bigint, m.view_seen, "
        "m.lease_expires < now(), "
        "(extract(epoch FROM m.lease_expires - now()) * 1000000)::bigint "
        "FROM " +
            s_ + ".cluster_view AS v LEFT JOIN " + s_ +
            ".members AS m ON true ORDER BY m.name COLLATE \"C\"",
        {}, deadline, what);
    if (!res)
      return std::move(res.error());
    member_view_read result;
    auto* r = res->get();
    for (int row = 0; row < PQntuples(r); ++row) {
      result.view.number = static_cast<uint64_t>(to_int(r, row, 0));
      if (PQgetisnull(r, row, 1))
        continue; // no members
      cluster_member m;
      m.name = to_text(r, row, 1);
      m.incarnation = static_cast<uint64_t>(to_int(r, row, 2));
      m.http = to_text(r, row, 3);
      m.cluster = to_text(r, row, 4);
      m.status = to_text(r, row, 5) == "leaving" ? member_status::leaving
                                                 : member_status::up;
      m.since_ms = to_int(r, row, 6);
      m.view_seen = static_cast<uint64_t>(to_int(r, row, 7));
      m.lapsed = PQgetvalue(r, row, 8)[0] == 't';
      if (!m.lapsed) {
        caf::timespan left{std::chrono::microseconds{to_int(r, row, 9)}};
        if (!result.next_lapse || left < *result.next_lapse)
          result.next_lapse = left;
      }
      result.view.members.push_back(std::move(m));
    }
    return result;
  }

  caf::expected<bool> wait_for_change(caf::timespan timeout) override {
    auto deadline = clock_type::now() + timeout;
    if (conn_ == nullptr) {
      // A new connection may have missed notifications: report a change so
      // the caller reads the view.
      if (auto err = ensure_connected(std::min(deadline, deadline_from_now())))
        return err;
      return true;
    }
    if (take_notifications())
      return true;
    while (clock_type::now() < deadline) {
      if (!wait_until(conn_.get(), POLLIN, deadline))
        return take_notifications();
      if (!PQconsumeInput(conn_.get())) {
        auto why = last_error();
        conn_.reset();
        return make_error(member_errc::unavailable,
                          "lost the connection to " + where_ + ": " + why);
      }
      if (take_notifications())
        return true;
    }
    return false;
  }

  void set_timeout(caf::timespan timeout) override {
    if (timeout != timeout_) {
      timeout_ = timeout;
      // The server-side bounds are set per connection.
      conn_.reset();
      notified_ = true;
    }
  }

private:
  /// The client's bound of a call: half as long again as the server's
  /// (lock_timeout, statement_timeout), so that a statement the server gives
  /// up on is answered as such rather than abandoned while it may still
  /// commit.
  clock_type::time_point deadline_from_now() const {
    return clock_type::now() + timeout_ + timeout_ / 2;
  }

  caf::error taken(const std::string& name, int64_t incarnation,
                   int64_t left_ms) {
    return make_error(member_errc::name_taken,
                      "cannot join as " + name + ": incarnation " +
                          std::to_string(incarnation) +
                          " of that name holds a valid lease for another " +
                          std::to_string(left_ms) +
                          " ms (is another node running with the same "
                          "--cluster.node?)");
  }

  caf::error lost(const std::string& name, uint64_t incarnation,
                  const std::string& why) {
    return make_error(member_errc::lost, name + " (incarnation " +
                                             std::to_string(incarnation) +
                                             ") is no longer a member: " + why);
  }

  caf::expected<bool> remove(const std::string& name, uint64_t incarnation,
                             bool lapsed_only, const std::string& what) {
    auto deadline = deadline_from_now();
    // The DELETE conflicts with the FOR KEY SHARE lock of every fenced
    // append of that incarnation still in flight and waits for them (at
    // most lock_timeout); once it commits, no append of it can commit.
    auto res =
        exec("WITH d AS (DELETE FROM " + s_ +
                 ".members WHERE name = $1 AND incarnation = $2" +
                 (lapsed_only ? " AND lease_expires < now()" : "") +
                 " RETURNING 1), v AS (UPDATE " + s_ +
                 ".cluster_view SET number = number + 1 WHERE EXISTS (SELECT 1 "
                 "FROM d) RETURNING number) SELECT (SELECT count(*) FROM d), "
                 "(SELECT pg_notify('" +
                 channel + "', $3) FROM v)",
             {name, std::to_string(incarnation), opts_.schema}, deadline, what);
    if (!res)
      return std::move(res.error());
    return to_int(res->get(), 0, 0) > 0;
  }

  caf::expected<uint64_t> bump_view(clock_type::time_point deadline,
                                    const std::string& what) {
    auto res =
        exec("UPDATE " + s_ +
                 ".cluster_view SET number = number + 1 RETURNING number",
             {}, deadline, what);
    if (!res)
      return std::move(res.error());
    return static_cast<uint64_t>(to_int(res->get(), 0, 0));
  }

  /// Sets `refusal` when a member whose lease has not lapsed speaks another
  /// transport than this node; returns the database's error.
  caf::error other_transport(clock_type::time_point deadline,
                             const std::string& what, caf::error& refusal) {
    auto res = exec("SELECT name, transport FROM " + s_ +
                        ".members WHERE transport <> $1 AND lease_expires >= "
                        "now() ORDER BY name COLLATE \"C\" LIMIT 1",
                    {transport_}, deadline, what);
    if (!res)
      return std::move(res.error());
    if (PQntuples(res->get()) == 0)
      return {};
    auto describe = [](const std::string& x) {
      return x == "plain" ? std::string{"plain TCP"}
                          : "TLS with the CA " + x.substr(4);
    };
    refusal = make_error(
        member_errc::transport_mismatch,
        what + ": member " + to_text(res->get(), 0, 0) +
            " of this cluster talks to the other nodes in " +
            describe(to_text(res->get(), 0, 1)) + ", this node in " +
            describe(transport_) +
            ": the nodes of a cluster would not reach each other; give every "
            "node the same --cluster.tls.ca (and a certificate it signed), or "
            "none of them --cluster.tls.*");
    return {};
  }

  caf::error begin(clock_type::time_point deadline, const std::string& what) {
    auto res = exec("BEGIN", {}, deadline, what);
    if (!res)
      return std::move(res.error());
    return {};
  }

  caf::error notify_and_commit(clock_type::time_point deadline,
                               const std::string& what) {
    auto res = exec(std::string{"SELECT pg_notify('"} + channel + "', $1)",
                    {opts_.schema}, deadline, what);
    if (!res)
      return std::move(res.error());
    res = exec("COMMIT", {}, deadline, what);
    if (!res)
      return std::move(res.error());
    return {};
  }

  void rollback() {
    if (conn_ != nullptr && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE)
      exec("ROLLBACK", {}, deadline_from_now(), "rollback");
  }

  static int64_t affected(const result_ptr& res) {
    return std::strtoll(PQcmdTuples(res.get()), nullptr, 10);
  }

  std::string last_error() const {
    return redact(one_line(PQerrorMessage(conn_.get())), password_);
  }

  /// Consumes the notifications received; true if one was for this schema.
  bool take_notifications() {
    auto result = notified_;
    notified_ = false;
    if (conn_ == nullptr)
      return result;
    while (auto* n = PQnotifies(conn_.get())) {
      if (opts_.schema == n->extra)
        result = true;
      PQfreemem(n);
    }
    return result;
  }

  caf::error ensure_connected(clock_type::time_point deadline) {
    if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK)
      return {};
    conn_.reset();
    auto fail = [&](const std::string& why) {
      conn_.reset();
      return make_error(member_errc::unavailable, "cannot reach the members "
                                                  "at " +
                                                      where_ + ": " +
                                                      redact(why, password_));
    };
    if (std::string ignored;
        !pg::password_in(opts_.conninfo, password_, ignored))
      return fail("invalid connection string");
    const char* keys[] = {
        "keepalives",       "keepalives_idle",  "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "application_name",
        "dbname",           "client_encoding",  nullptr};
    const char* values[] = {"1",
                            "2",
                            "1",
                            "2",
                            "3000",
                            "cartd-membership",
                            opts_.conninfo.c_str(),
                            "UTF8",
                            nullptr};
    conn_.reset(PQconnectStartParams(keys, values, 1));
    if (conn_ == nullptr)
      return fail("out of memory");
    auto str = [](const char* x) { return std::string{x != nullptr ? x : ""}; };
    where_ = "host=" + str(PQhost(conn_.get())) +
             " port=" + str(PQport(conn_.get())) +
             " dbname=" + str(PQdb(conn_.get())) + " schema=" + opts_.schema;
    if (PQstatus(conn_.get()) == CONNECTION_BAD)
      return fail(one_line(PQerrorMessage(conn_.get())));
    auto state = PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
      if (state == PGRES_POLLING_FAILED)
        return fail(one_line(PQerrorMessage(conn_.get())));
      if (!wait_until(conn_.get(),
                      state == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                      deadline))
        return fail("no connection in time");
      state = PQconnectPoll(conn_.get());
    }
    PQsetNoticeProcessor(
        conn_.get(), [](void*, const char*) {}, nullptr);
    if (PQsetnonblocking(conn_.get(), 1) != 0)
      return fail(one_line(PQerrorMessage(conn_.get())));
    // No statement of this connection waits longer than the timeout, the
    // DELETE waiting for a member's appends included.
    auto ms = std::to_string(std::max<int64_t>(1, to_ms(timeout_)));
    for (auto sql :
         {"SET lock_timeout = " + ms, "SET statement_timeout = " + ms,
          "SET idle_in_transaction_session_timeout = " + ms,
          std::string{"LISTEN "} + channel}) {
      auto res = send_and_wait(sql, {}, deadline);
      if (!res)
        return fail(last_sqlstate_.empty() ? "no answer in time"
                                           : last_message_);
    }
    // Whatever changed while there was no connection was not notified here.
    notified_ = true;
    return {};
  }

  /// Sends one statement and waits for its result; nullopt on any failure
  /// (last_sqlstate_ and last_message_ say which; an empty state: the
  /// connection is lost or the deadline passed).
  std::optional<result_ptr>
  send_and_wait(const std::string& sql, const std::vector<std::string>& params,
                clock_type::time_point deadline) {
    last_sqlstate_.clear();
    last_message_.clear();
    auto* conn = conn_.get();
    std::vector<const char*> values;
    for (auto& p : params)
      values.push_back(p.c_str());
    if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()),
                           nullptr, values.data(), nullptr, nullptr, 0)) {
      last_message_ = last_error();
      return std::nullopt;
    }
    for (;;) {
      auto rc = PQflush(conn);
      if (rc == 0)
        break;
      if (rc < 0 || !wait_until(conn, POLLIN | POLLOUT, deadline) ||
          !PQconsumeInput(conn)) {
        last_message_ = rc < 0 ? last_error() : "no answer in time";
        return std::nullopt;
      }
    }
    result_ptr result;
    for (;;) {
      while (PQisBusy(conn)) {
        if (!wait_until(conn, POLLIN, deadline)) {
          last_message_ = "no answer in time";
          return std::nullopt;
        }
        if (!PQconsumeInput(conn)) {
          last_message_ = last_error();
          return std::nullopt;
        }
      }
      result_ptr res{PQgetResult(conn)};
      if (res == nullptr)
        break;
      auto status = PQresultStatus(res.get());
      if (status == PGRES_FATAL_ERROR) {
        auto state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
        last_sqlstate_ = state != nullptr ? state : "";
        last_message_ =
            redact(one_line(PQresultErrorMessage(res.get())), password_);
      } else if (result == nullptr) {
        result = std::move(res);
      }
    }
    if (!last_sqlstate_.empty() || result == nullptr) {
      if (last_message_.empty())
        last_message_ = "no result";
      return std::nullopt;
    }
    return result;
  }

  /// Runs one statement (connecting first when needed). On a failure,
  /// rolls back an open transaction and drops a connection that is broken
  /// or ran out of time.
  caf::expected<result_ptr> exec(const std::string& sql,
                                 const std::vector<std::string>& params,
                                 clock_type::time_point deadline,
                                 const std::string& what) {
    if (auto err = ensure_connected(deadline))
      return err;
    auto res = send_and_wait(sql, params, deadline);
    if (res)
      return std::move(*res);
    auto why = last_message_;
    if (last_sqlstate_.empty() || PQstatus(conn_.get()) != CONNECTION_OK) {
      // Lost, or no answer in time: the server may still be running the
      // statement; a new connection is the only clean state.
      conn_.reset();
    } else if (PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
      auto state = std::move(last_sqlstate_);
      if (!send_and_wait("ROLLBACK", {}, deadline_from_now()))
        conn_.reset();
      last_sqlstate_ = std::move(state);
    }
    return make_error(member_errc::unavailable,
                      what + " at " + where_ + ": " + why);
  }

  pg_options opts_;
  std::string transport_;
  std::string s_;
  std::string where_;
  std::string password_;
  caf::timespan timeout_;
  conn_ptr conn_;
  /// A change that may have been missed (a new connection).
  bool notified_ = false;
  std::string last_sqlstate_;
  std::string last_message_;
};

} // namespace

std::string transport_name(const std::string* ca_fingerprint) {
  return ca_fingerprint == nullptr ? "plain" : "tls " + *ca_fingerprint;
}

caf::expected<std::unique_ptr<member_store>>
open_pg_member_store(const pg_options& opts, const std::string& transport) {
  // The journal creates the membership table with its own tables (or
  // upgrades a version 1 schema) and checks the schema's version.
  pg_options journal_opts = opts;
  journal_opts.fence = nullptr;
  auto journal = pg_journal::open(journal_opts);
  if (!journal) {
    auto& context = journal.error().context();
    return make_error(member_errc::unavailable,
                      context.match_elements<std::string>()
                          ? context.get_as<std::string>(0)
                          : caf::to_string(journal.error()));
  }
  journal->reset();
  std::unique_ptr<pg_member_store> result{new pg_member_store(opts, transport)};
  if (auto err = result->connect())
    return err;
  if (auto err = result->check_transport("cannot join this cluster"))
    return err;
  return std::unique_ptr<member_store>{std::move(result)};
}

} // namespace cartd
