// The membership table in PostgreSQL (pg_member_store): joins, renewals,
// a name held by a valid lease, lapse and removal, rejoins, view numbers,
// notifications, and the DELETE bounded by lock_timeout. Lapses are made
// with the database's clock (an UPDATE of lease_expires into the past), not
// by waiting. One server for the test binary; a schema per test case.

#include "runtime/cluster/postgres/pg_member_store.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <caf/message.hpp>

#include <libpq-fe.h>

#include "tests/runtime/journal/shared_postgres.hpp"

using namespace cartd;
using namespace std::chrono_literals;

BOOST_TEST_DONT_PRINT_LOG_VALUE(cartd::member_errc)
BOOST_TEST_DONT_PRINT_LOG_VALUE(cartd::member_status)

namespace {

test::postgres_server& server() {
  return test::shared_postgres();
}

pg_options options(const std::string& schema) {
  pg_options result;
  result.conninfo = server().conninfo();
  result.schema = schema;
  return result;
}

std::unique_ptr<member_store> open_store(const std::string& schema) {
  auto opened = open_pg_member_store(options(schema));
  if (!opened)
    BOOST_FAIL("open failed: " << caf::to_string(opened.error()));
  return std::move(*opened);
}

cluster_member row(const std::string& name) {
  cluster_member result;
  result.name = name;
  result.http = name + ":8080";
  result.cluster = name + ":7000";
  return result;
}

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

bool contains(const std::string& x, const std::string& part) {
  return x.find(part) != std::string::npos;
}

/// A libpq connection of the test's own, to hold a lock open.
class raw_connection {
public:
  raw_connection() : conn_(PQconnectdb(server().conninfo().c_str())) {
    BOOST_REQUIRE(PQstatus(conn_) == CONNECTION_OK);
  }

  ~raw_connection() { PQfinish(conn_); }

  void exec(const std::string& sql) {
    auto* res = PQexec(conn_, sql.c_str());
    auto status = PQresultStatus(res);
    std::string err = PQresultErrorMessage(res);
    PQclear(res);
    BOOST_REQUIRE_MESSAGE(status == PGRES_COMMAND_OK ||
                              status == PGRES_TUPLES_OK,
                          sql << ": " << err);
  }

private:
  PGconn* conn_;
};

/// Makes `name`'s lease lapse by the database's clock.
void lapse(const std::string& schema, const std::string& name) {
  server().query("UPDATE " + schema +
                 ".members SET lease_expires = now() - interval '1 second' "
                 "WHERE name = '" +
                 name + "'");
}

member_view_read read(member_store& store) {
  auto got = store.read_view();
  if (!got)
    BOOST_FAIL("read_view failed: " << caf::to_string(got.error()));
  return std::move(*got);
}

/// Drops the notifications received so far.
void drain(member_store& store) {
  while (true) {
    auto got = store.wait_for_change(caf::timespan{0});
    BOOST_REQUIRE(got);
    if (!*got)
      return;
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(pg_member_store_tests)

BOOST_AUTO_TEST_CASE(a_join_inserts_the_row_and_bumps_the_view) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto empty = read(*store);
  BOOST_TEST(empty.view.number == 0u);
  BOOST_TEST(empty.view.members.empty());
  BOOST_TEST(!empty.next_lapse);
  auto inc = store->join(row("b"), 10s);
  BOOST_REQUIRE(inc);
  BOOST_TEST(*inc != 0u);
  auto inc_a = store->join(row("a"), 10s);
  BOOST_REQUIRE(inc_a);
  BOOST_TEST(*inc_a != *inc);
  auto got = read(*store);
  BOOST_TEST(got.view.number == 2u);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 2u);
  auto& a = got.view.members[0];
  BOOST_TEST(a.name == "a");
  BOOST_TEST(a.incarnation == *inc_a);
  BOOST_TEST(a.http == "a:8080");
  BOOST_TEST(a.cluster == "a:7000");
  BOOST_TEST(a.status == member_status::up);
  BOOST_TEST(a.view_seen == 0u);
  BOOST_TEST(!a.lapsed);
  BOOST_TEST(a.since_ms > 0);
  BOOST_TEST(got.view.members[1].name == "b");
  BOOST_REQUIRE(got.next_lapse);
  BOOST_TEST(got.next_lapse->count() > 0);
  BOOST_TEST((*got.next_lapse <= caf::timespan{10s}));
  BOOST_TEST(!got.view.settled());
}

BOOST_AUTO_TEST_CASE(a_name_held_by_a_valid_lease_is_refused) {
  auto schema = test::fresh_schema();
  auto first = open_store(schema);
  auto second = open_store(schema);
  auto inc = first->join(row("a"), 10s);
  BOOST_REQUIRE(inc);
  auto refused = second->join(row("a"), 10s);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(member_errc_of(refused.error()) == member_errc::name_taken);
  auto msg = message_of(refused.error());
  BOOST_TEST_INFO(msg);
  BOOST_TEST(contains(msg, "incarnation " + std::to_string(*inc)));
  BOOST_TEST(contains(msg, "valid lease"));
  // Nothing changed: the same row, the same view.
  auto got = read(*second);
  BOOST_TEST(got.view.number == 1u);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 1u);
  BOOST_TEST(got.view.members[0].incarnation == *inc);
}

BOOST_AUTO_TEST_CASE(a_node_of_another_transport_cannot_join_a_live_cluster) {
  auto schema = test::fresh_schema();
  std::string tls_a = "tls sha256:aa";
  auto opened = [&](const std::string& transport) {
    return open_pg_member_store(options(schema), transport);
  };
  // Opened before anyone joined: open has nothing to refuse.
  auto early_plain = opened("plain");
  auto early_other = opened("tls sha256:bb");
  BOOST_REQUIRE(early_plain && early_other);
  auto a = opened(tls_a);
  BOOST_REQUIRE(a);
  BOOST_REQUIRE((*a)->join(row("a"), 10s));
  BOOST_TEST(server().query("SELECT transport FROM " + schema +
                            ".members WHERE name = 'a'") == tls_a);
  // Opening refuses, naming the member and both transports.
  auto plain = opened("plain");
  BOOST_REQUIRE(!plain);
  BOOST_TEST(member_errc_of(plain.error()) == member_errc::transport_mismatch);
  auto msg = message_of(plain.error());
  BOOST_TEST_INFO(msg);
  BOOST_TEST(contains(msg, "member a "));
  BOOST_TEST(contains(msg, "TLS with the CA sha256:aa"));
  BOOST_TEST(contains(msg, "this node in plain TCP"));
  BOOST_TEST(contains(msg, "--cluster.tls.ca"));
  // A join (under the view's lock) refuses too, changing nothing.
  for (auto* store : {early_plain->get(), early_other->get()}) {
    auto refused = store->join(row("b"), 10s);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(member_errc_of(refused.error()) ==
               member_errc::transport_mismatch);
  }
  BOOST_TEST(read(**early_plain).view.members.size() == 1u);
  BOOST_TEST(read(**early_plain).view.number == 1u);
  // The same transport joins.
  auto b = opened(tls_a);
  BOOST_REQUIRE(b);
  BOOST_TEST(static_cast<bool>((*b)->join(row("b"), 10s)));
  // Once the others' leases lapsed, the cluster may change its transport.
  lapse(schema, "a");
  lapse(schema, "b");
  auto later = opened("plain");
  BOOST_REQUIRE(later);
  BOOST_TEST(static_cast<bool>((*later)->join(row("c"), 10s)));
}

BOOST_AUTO_TEST_CASE(a_renewal_extends_the_lease_until_it_lapsed) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto inc = store->join(row("a"), 10s);
  BOOST_REQUIRE(inc);
  BOOST_TEST(!store->renew("a", *inc, 60s));
  auto got = read(*store);
  BOOST_REQUIRE(got.next_lapse);
  BOOST_TEST((*got.next_lapse > caf::timespan{30s}));
  // Another incarnation's renewal is refused.
  auto other = store->renew("a", *inc + 1, 10s);
  BOOST_REQUIRE(other);
  BOOST_TEST(member_errc_of(other) == member_errc::lost);
  lapse(schema, "a");
  auto late = store->renew("a", *inc, 10s);
  BOOST_REQUIRE(late);
  BOOST_TEST(member_errc_of(late) == member_errc::lost);
  BOOST_TEST_INFO(message_of(late));
  BOOST_TEST(contains(message_of(late), "no longer a member"));
  got = read(*store);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 1u);
  BOOST_TEST(got.view.members[0].lapsed);
  BOOST_TEST(!got.next_lapse);
}

BOOST_AUTO_TEST_CASE(a_lapsed_member_is_removed_once_and_a_valid_one_never) {
  auto schema = test::fresh_schema();
  auto a = open_store(schema);
  auto b = open_store(schema);
  auto inc_a = a->join(row("a"), 10s);
  auto inc_b = b->join(row("b"), 10s);
  BOOST_REQUIRE(inc_a);
  BOOST_REQUIRE(inc_b);
  auto valid = b->remove_lapsed("a", *inc_a);
  BOOST_REQUIRE(valid);
  BOOST_TEST(!*valid);
  BOOST_TEST(read(*b).view.number == 2u);
  lapse(schema, "a");
  auto removed = b->remove_lapsed("a", *inc_a);
  BOOST_REQUIRE(removed);
  BOOST_TEST(*removed);
  auto got = read(*b);
  BOOST_TEST(got.view.number == 3u);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 1u);
  BOOST_TEST(got.view.members[0].name == "b");
  // Idempotent: a second survivor finds nothing to do.
  auto again = a->remove_lapsed("a", *inc_a);
  BOOST_REQUIRE(again);
  BOOST_TEST(!*again);
  BOOST_TEST(read(*b).view.number == 3u);
}

BOOST_AUTO_TEST_CASE(
    a_join_replaces_its_own_lapsed_row_with_a_new_incarnation) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto old = store->join(row("a"), 10s);
  BOOST_REQUIRE(old);
  lapse(schema, "a");
  auto fresh = store->join(row("a"), 10s);
  BOOST_REQUIRE(fresh);
  BOOST_TEST(*fresh > *old);
  auto got = read(*store);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 1u);
  BOOST_TEST(got.view.members[0].incarnation == *fresh);
  BOOST_TEST(!got.view.members[0].lapsed);
  // The old incarnation is gone for good.
  auto late = store->renew("a", *old, 10s);
  BOOST_REQUIRE(late);
  BOOST_TEST(member_errc_of(late) == member_errc::lost);
}

BOOST_AUTO_TEST_CASE(mark_leaving_and_leave_bump_the_view_acks_do_not) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto a = store->join(row("a"), 10s);
  auto b = store->join(row("b"), 10s);
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(!store->ack_view("a", *a, 2));
  BOOST_TEST(!store->ack_view("b", *b, 2));
  auto got = read(*store);
  BOOST_TEST(got.view.number == 2u);
  BOOST_TEST(got.view.members[0].view_seen == 2u);
  BOOST_TEST(got.view.settled());
  // Never lowered.
  BOOST_TEST(!store->ack_view("a", *a, 1));
  BOOST_TEST(read(*store).view.members[0].view_seen == 2u);
  auto leaving = store->mark_leaving("a", *a);
  BOOST_REQUIRE(leaving);
  BOOST_TEST(*leaving == 3u);
  got = read(*store);
  BOOST_TEST(got.view.number == 3u);
  BOOST_TEST(got.view.members[0].status == member_status::leaving);
  BOOST_TEST(got.view.owners() == std::vector<std::string>{"b"},
             boost::test_tools::per_element());
  // Again: nothing changes, the same number.
  auto again = store->mark_leaving("a", *a);
  BOOST_REQUIRE(again);
  BOOST_TEST(*again == 3u);
  BOOST_TEST(!store->leave("a", *a));
  got = read(*store);
  BOOST_TEST(got.view.number == 4u);
  BOOST_REQUIRE_EQUAL(got.view.members.size(), 1u);
  // A row that is gone: leave is no error, the others say lost.
  BOOST_TEST(!store->leave("a", *a));
  BOOST_TEST(read(*store).view.number == 4u);
  auto ack = store->ack_view("a", *a, 4);
  BOOST_REQUIRE(ack);
  BOOST_TEST(member_errc_of(ack) == member_errc::lost);
  auto mark = store->mark_leaving("a", *a);
  BOOST_REQUIRE(!mark);
  BOOST_TEST(member_errc_of(mark.error()) == member_errc::lost);
}

BOOST_AUTO_TEST_CASE(every_membership_change_and_ack_notifies_the_others) {
  auto schema = test::fresh_schema();
  auto a = open_store(schema);
  auto b = open_store(schema);
  // Another schema's changes do not wake this one.
  auto elsewhere = open_store(test::fresh_schema());
  drain(*b);
  BOOST_REQUIRE(elsewhere->join(row("x"), 10s));
  auto quiet = b->wait_for_change(caf::timespan{100ms});
  BOOST_REQUIRE(quiet);
  BOOST_TEST(!*quiet);
  auto expect_notified = [&](const char* what) {
    BOOST_TEST_CONTEXT(what) {
      auto got = b->wait_for_change(caf::timespan{30s});
      BOOST_REQUIRE(got);
      BOOST_TEST(*got);
      drain(*b);
    }
  };
  auto inc = a->join(row("a"), 10s);
  BOOST_REQUIRE(inc);
  expect_notified("join");
  BOOST_TEST(!a->ack_view("a", *inc, 1));
  expect_notified("ack");
  // A renewal is no change of the view.
  BOOST_TEST(!a->renew("a", *inc, 10s));
  quiet = b->wait_for_change(caf::timespan{100ms});
  BOOST_REQUIRE(quiet);
  BOOST_TEST(!*quiet);
  BOOST_REQUIRE(a->mark_leaving("a", *inc));
  expect_notified("mark leaving");
  BOOST_TEST(!a->leave("a", *inc));
  expect_notified("leave");
  auto other = a->join(row("c"), 10s);
  BOOST_REQUIRE(other);
  drain(*b);
  lapse(schema, "c");
  auto removed = a->remove_lapsed("c", *other);
  BOOST_REQUIRE(removed);
  BOOST_TEST(*removed);
  expect_notified("removal");
}

BOOST_AUTO_TEST_CASE(a_removal_waiting_for_a_lock_gives_up_after_the_timeout) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto inc = store->join(row("a"), 10s);
  BOOST_REQUIRE(inc);
  lapse(schema, "a");
  // A fenced append in flight, as the fence statement locks the row, held
  // open on a connection of the test's own: the DELETE must wait.
  raw_connection session;
  session.exec("BEGIN");
  session.exec("SELECT 1 FROM " + schema +
               ".members WHERE name = 'a' FOR KEY SHARE");
  store->set_timeout(caf::timespan{300ms});
  auto removed = store->remove_lapsed("a", *inc);
  BOOST_REQUIRE(!removed);
  BOOST_TEST(member_errc_of(removed.error()) == member_errc::unavailable);
  BOOST_TEST_INFO(message_of(removed.error()));
  session.exec("ROLLBACK");
  // Once the lock is gone, the same call removes it.
  auto again = store->remove_lapsed("a", *inc);
  BOOST_REQUIRE(again);
  BOOST_TEST(*again);
}

// The fence end to end: a survivor's removal of a lapsed member waits for
// that member's append still in flight (it holds the row's FOR KEY SHARE
// lock, taken by its fence before its lease lapsed), the append commits,
// and every later append of that incarnation is fenced. The append is held
// inside its transaction by a key another connection inserted and has not
// committed yet.
BOOST_AUTO_TEST_CASE(a_removal_waits_for_the_members_append_in_flight) {
  auto schema = test::fresh_schema();
  auto store = open_store(schema);
  auto inc = store->join(row("a"), 60s);
  BOOST_REQUIRE(inc);
  auto fence = std::make_shared<journal_fence>();
  fence->member = "a";
  fence->incarnation = *inc;
  auto opts = options(schema);
  opts.fence = fence;
  auto journal = pg_journal::open(opts);
  BOOST_REQUIRE(journal);
  raw_connection blocker;
  blocker.exec("BEGIN");
  blocker.exec("INSERT INTO " + schema +
               ".events (stream, seq, payload, recorded_at) VALUES ('c1', 1, "
               "'other', 0)");
  journal_append append;
  append.stream = "c1";
  append.payloads = {"a1"};
  std::vector<caf::expected<uint64_t>> got;
  std::thread writer{[&] { got = (*journal)->append_batch({append}); }};
  auto waiting = [&](const std::string& app) {
    for (int i = 0; i < 3000; ++i) {
      if (server().query("SELECT count(*) FROM pg_stat_activity WHERE "
                         "application_name = '" +
                         app + "' AND wait_event_type = 'Lock'") != "0")
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  bool appending = waiting("cartd");
  // Its lease lapses while the append is in flight.
  lapse(schema, "a");
  auto survivor = open_store(schema);
  survivor->set_timeout(caf::timespan{60s});
  caf::expected<bool> removed{false};
  std::thread remover{[&] { removed = survivor->remove_lapsed("a", *inc); }};
  bool removal_waits = waiting("cartd-membership");
  blocker.exec("ROLLBACK");
  writer.join();
  remover.join();
  BOOST_REQUIRE(appending);
  BOOST_REQUIRE(removal_waits);
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(static_cast<bool>(got[0]));
  BOOST_REQUIRE(removed);
  BOOST_TEST(*removed);
  BOOST_TEST(server().query("SELECT payload FROM " + schema +
                            ".events WHERE stream = 'c1'") == "a1");
  append.expected_seq = 1;
  auto later = (*journal)->append_batch({append});
  BOOST_REQUIRE(!later[0]);
  BOOST_TEST(later[0].error().code() ==
             static_cast<uint8_t>(journal_errc::fenced));
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_is_an_error_without_the_password) {
  pg_options opts;
  opts.conninfo = "host=127.0.0.1 port=1 dbname=shop user=alice "
                  "password=s3cret-pw";
  opts.schema = "carts";
  auto opened = open_pg_member_store(opts);
  BOOST_REQUIRE(!opened);
  BOOST_TEST(member_errc_of(opened.error()) == member_errc::unavailable);
  auto msg = message_of(opened.error());
  BOOST_TEST_INFO(msg);
  BOOST_TEST(contains(msg, "port=1"));
  BOOST_TEST(!contains(msg, "s3cret-pw"));
}

BOOST_AUTO_TEST_SUITE_END()
