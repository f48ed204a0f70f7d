// The membership worker on real threads against the test binary's
// PostgreSQL server: it joins, renews, reports views, removes a member that
// stopped renewing, rejoins under a new incarnation when its renewal is
// refused or the database was gone, serves again when a late renewal is
// still accepted, acknowledges views, leaves. Lapses are made with the
// database's clock, by members that never renew, or by holding the worker's
// thread (pausable_store); every wait is for a condition, with a generous
// bound.

#include "runtime/cluster/membership.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "runtime/cluster/postgres/pg_member_store.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"
#include "tests/runtime/journal/shared_postgres.hpp"

using namespace cartd;
using namespace std::chrono_literals;

namespace {

/// Only a broken worker makes a test wait this long.
constexpr auto patience = caf::timespan{30s};

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

caf::actor_system_config& init(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::cartd_runtime>();
  cfg.add_message_types<caf::id_block::cartd_cluster>();
  add_member_error_category(cfg);
  return cfg;
}

/// Starts the shared server again at the end of a test that crashed it.
struct restart_guard {
  ~restart_guard() {
    try {
      if (!server().running())
        server().start();
    } catch (const std::exception& e) {
      BOOST_TEST_MESSAGE("cannot restart the server: " << e.what());
    }
  }
};

/// One worker, its lease and fence, and a listener (a scoped actor) that
/// keeps what it was told.
struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scoped_actor listener{sys};
  std::string schema = test::fresh_schema();
  std::shared_ptr<cluster_lease> lease = std::make_shared<cluster_lease>();
  std::shared_ptr<journal_fence> fence = std::make_shared<journal_fence>();
  caf::actor worker;
  cluster_view last_view;
  bool serving = false;
  /// How many (lease_atom, true) and (lease_atom, false) came.
  int grants = 0;
  int losses = 0;

  fixture() {
    // The schema exists before anyone looks at it.
    open_store(schema);
  }

  ~fixture() {
    if (worker)
      caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
  }

  membership_settings settings(const std::string& name) {
    membership_settings result;
    result.name = name;
    result.http = name + ":8080";
    result.cluster = name + ":7000";
    result.lease = caf::timespan{1s};
    result.heartbeat = caf::timespan{200ms};
    return result;
  }

  void start(const std::string& name,
             caf::timespan lease_time = caf::timespan{1s},
             std::unique_ptr<member_store> store = nullptr) {
    fence->member = name;
    auto cfg = settings(name);
    cfg.lease = lease_time;
    if (store == nullptr)
      store = open_store(schema);
    worker = spawn_membership(sys, std::move(store), std::move(cfg), lease,
                              fence, caf::actor{listener.ptr()});
  }

  /// Handles the listener's messages until `pred` holds; false when it did
  /// not within `patience`.
  bool until(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      listener->receive(
          [&](lease_atom, bool x) {
            serving = x;
            ++(x ? grants : losses);
          },
          [&](view_atom, const cluster_view& v) { last_view = v; },
          caf::after(std::chrono::milliseconds{100}) >> [] {});
    }
    return true;
  }

  std::string row(const std::string& name, const std::string& column) {
    return server().query("SELECT " + column + " FROM " + schema +
                          ".members WHERE name = '" + name + "'");
  }
};

/// Passes every call on to a real store, but holds the worker's thread
/// inside wait_for_change while paused, as if the node were stopped
/// between two renewals (SIGSTOP, starved of CPU).
class pausable_store : public member_store {
public:
  struct control {
    std::mutex mtx;
    std::condition_variable cv;
    bool pause = false;
    bool held = false;

    /// Pauses the worker at its next wait; true once it is held.
    bool hold(caf::timespan bound) {
      std::unique_lock<std::mutex> guard{mtx};
      pause = true;
      return cv.wait_for(guard, bound, [this] { return held; });
    }

    void release() {
      std::lock_guard<std::mutex> guard{mtx};
      pause = false;
      cv.notify_all();
    }
  };

  pausable_store(std::unique_ptr<member_store> inner,
                 std::shared_ptr<control> ctl)
      : inner_(std::move(inner)), ctl_(std::move(ctl)) {}

  caf::expected<uint64_t> join(const cluster_member& self,
                               caf::timespan lease) override {
    return inner_->join(self, lease);
  }
  caf::error renew(const std::string& name, uint64_t incarnation,
                   caf::timespan lease) override {
    return inner_->renew(name, incarnation, lease);
  }
  caf::error ack_view(const std::string& name, uint64_t incarnation,
                      uint64_t view) override {
    return inner_->ack_view(name, incarnation, view);
  }
  caf::expected<uint64_t> mark_leaving(const std::string& name,
                                       uint64_t incarnation) override {
    return inner_->mark_leaving(name, incarnation);
  }
  caf::expected<bool> remove_lapsed(const std::string& name,
                                    uint64_t incarnation) override {
    return inner_->remove_lapsed(name, incarnation);
  }
  caf::error leave(const std::string& name, uint64_t incarnation) override {
    return inner_->leave(name, incarnation);
  }
  caf::expected<member_view_read> read_view() override {
    return inner_->read_view();
  }
  caf::expected<bool> wait_for_change(caf::timespan timeout) override {
    {
      std::unique_lock<std::mutex> guard{ctl_->mtx};
      if (ctl_->pause) {
        ctl_->held = true;
        ctl_->cv.notify_all();
        ctl_->cv.wait(guard, [this] { return !ctl_->pause; });
        ctl_->held = false;
      }
    }
    return inner_->wait_for_change(timeout);
  }
  void set_timeout(caf::timespan timeout) override {
    inner_->set_timeout(timeout);
  }

private:
  std::unique_ptr<member_store> inner_;
  std::shared_ptr<control> ctl_;
};

cluster_member member_row(const std::string& name) {
  cluster_member result;
  result.name = name;
  result.http = name + ":8080";
  result.cluster = name + ":7000";
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(membership_tests)

BOOST_FIXTURE_TEST_CASE(the_worker_joins_renews_and_reports_the_view, fixture) {
  start("a");
  BOOST_REQUIRE(until([&] { return serving; }));
  BOOST_TEST(lease->valid());
  auto inc = fence->incarnation.load();
  BOOST_TEST(inc != 0u);
  BOOST_TEST(row("a", "incarnation") == std::to_string(inc));
  BOOST_REQUIRE(until([&] { return last_view.find("a") != nullptr; }));
  BOOST_TEST(last_view.find("a")->incarnation == inc);
  BOOST_TEST(last_view.find("a")->http == "a:8080");
  // It renews: the row's lease end moves forward.
  auto first = row("a", "lease_expires");
  BOOST_REQUIRE(until([&] {
    return server().query("SELECT lease_expires > '" + first + "' FROM " +
                          schema + ".members WHERE name = 'a'") == "t";
  }));
  BOOST_TEST(serving);
  BOOST_TEST(fence->incarnation.load() == inc);
}

BOOST_FIXTURE_TEST_CASE(a_member_that_stops_renewing_is_removed_by_a_survivor,
                        fixture) {
  start("a");
  BOOST_REQUIRE(until([&] { return serving; }));
  // "z" joins and then freezes: it never renews its short lease.
  auto frozen = open_store(schema);
  auto inc = frozen->join(member_row("z"), caf::timespan{300ms});
  BOOST_REQUIRE(inc);
  BOOST_REQUIRE(until([&] { return last_view.find("z") != nullptr; }));
  auto with_z = last_view.number;
  BOOST_REQUIRE(until([&] {
    return last_view.number > with_z && last_view.find("z") == nullptr;
  }));
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema +
                            ".members WHERE name = 'z'") == "0");
  BOOST_TEST(last_view.find("a") != nullptr);
  BOOST_TEST(serving);
}

BOOST_FIXTURE_TEST_CASE(a_refused_renewal_ends_the_lease_and_the_worker_rejoins,
                        fixture) {
  // A lease far longer than the test's patience: only the refused renewal
  // can end it here.
  start("a", caf::timespan{10min});
  BOOST_REQUIRE(until([&] { return serving; }));
  auto old = fence->incarnation.load();
  // Its lease lapses by the database's clock: the next renewal is refused.
  server().query("UPDATE " + schema +
                 ".members SET lease_expires = now() - interval '1 second'");
  BOOST_REQUIRE(until([&] { return !serving; }));
  // Serving again under a new incarnation (the lease was revoked between).
  BOOST_REQUIRE(until([&] { return serving; }));
  auto fresh = fence->incarnation.load();
  BOOST_TEST(fresh != 0u);
  BOOST_TEST(fresh != old);
  BOOST_TEST(lease->valid());
  BOOST_TEST(row("a", "incarnation") == std::to_string(fresh));
}

BOOST_FIXTURE_TEST_CASE(a_late_renewal_the_database_accepts_serves_again,
                        fixture) {
  auto ctl = std::make_shared<pausable_store::control>();
  // A failed requirement must not leave the worker held (the actor system
  // waits for it at the end).
  struct releaser {
    std::shared_ptr<pausable_store::control> ctl;
    ~releaser() { ctl->release(); }
  } guard{ctl};
  start("a", caf::timespan{1s},
        std::make_unique<pausable_store>(open_store(schema), ctl));
  BOOST_REQUIRE(until([&] { return serving; }));
  auto inc = fence->incarnation.load();
  auto granted = grants;
  // Held between two renewals until its lease clock ran out...
  BOOST_REQUIRE(ctl->hold(patience));
  BOOST_REQUIRE(until([&] { return !lease->valid(); }));
  // ...while its row still holds a lease by the database's clock (an hour
  // more, so the renewal is accepted however long the test takes).
  server().query("UPDATE " + schema +
                 ".members SET lease_expires = now() + interval '1 hour' "
                 "WHERE name = 'a'");
  ctl->release();
  // The renewal is accepted: the same incarnation serves again, and the
  // listener (the router, which saw the clock run out) is told so.
  BOOST_REQUIRE(until([&] { return grants > granted; }));
  BOOST_TEST(losses == 0);
  BOOST_TEST(lease->valid());
  BOOST_TEST(fence->incarnation.load() == inc);
  BOOST_TEST(row("a", "incarnation") == std::to_string(inc));
}

BOOST_FIXTURE_TEST_CASE(the_lease_ends_while_the_database_is_down, fixture) {
  start("a");
  BOOST_REQUIRE(until([&] { return serving; }));
  auto old = fence->incarnation.load();
  {
    restart_guard guard;
    server().crash();
    BOOST_REQUIRE(until([&] { return !serving; }));
    BOOST_TEST(!lease->valid());
    BOOST_TEST(fence->incarnation.load() == 0u);
    server().start();
  }
  BOOST_REQUIRE(until([&] { return serving; }));
  BOOST_TEST(lease->valid());
  BOOST_TEST(fence->incarnation.load() != old);
  BOOST_TEST(fence->incarnation.load() != 0u);
}

BOOST_FIXTURE_TEST_CASE(acks_and_leave_reach_the_row_and_exit_deletes_it,
                        fixture) {
  start("a");
  BOOST_REQUIRE(until([&] { return serving && last_view.number > 0; }));
  auto view = last_view.number;
  listener->send(worker, ack_atom::value, view);
  BOOST_REQUIRE(until([&] {
    auto* self = last_view.find("a");
    return self != nullptr && self->view_seen == view;
  }));
  BOOST_TEST(last_view.settled());
  uint64_t left = 0;
  listener->request(worker, patience, leave_atom::value)
      .receive([&](uint64_t x) { left = x; },
               [&](const caf::error& err) {
                 BOOST_FAIL("leave failed: " << caf::to_string(err));
               });
  BOOST_TEST(left > view);
  BOOST_TEST(row("a", "status") == "leaving");
  BOOST_REQUIRE(until([&] { return last_view.number == left; }));
  BOOST_TEST(last_view.owners().empty());
  listener->send_exit(worker, caf::exit_reason::user_shutdown);
  listener->wait_for(worker);
  worker = nullptr;
  BOOST_TEST(server().query("SELECT count(*) FROM " + schema + ".members") ==
             "0");
  BOOST_TEST(!lease->valid());
}

BOOST_AUTO_TEST_SUITE_END()
