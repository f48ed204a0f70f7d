#define BOOST_TEST_MODULE runtime_supervision_timers
#include <boost/test/unit_test.hpp>

// Guards the "supervisor timers" section of runtime/core/caf_shims.hpp: the
// CAF 0.17.6 behaviour supervisor_core's kill timers rely on. If a CAF
// upgrade changes how a self-sent delayed message reaches the default
// handler, these tests fail, not a shutdown that hangs in production.

#include "runtime/core/caf_shims.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

namespace shims = cartd::caf_shims;
using namespace std::chrono_literals;

namespace {

constexpr caf::atom_value kill_tag = caf::atom("sup_kill");

/// What a host's default handler saw.
struct seen {
  std::vector<shims::self_timer> timers;
  size_t others = 0;
};

/// An actor whose behavior does not handle timers, like a supervisor_core's
/// host; if `arm`, it sends itself (kill_tag, 42) after 5 s.
caf::behavior host(caf::event_based_actor* self, std::shared_ptr<seen> log,
                   bool arm) {
  self->set_default_handler(
      [log](caf::scheduled_actor* ptr,
            caf::message_view& msg) -> caf::result<caf::message> {
        if (auto timer = shims::read_self_timer(ptr, msg))
          log->timers.push_back(*timer);
        else
          ++log->others;
        return caf::message{};
      });
  if (arm)
    shims::send_self_timer(self, 5s, kill_tag, 42);
  return {
      [](int32_t) {},
  };
}

caf::actor_system_config& deterministic(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<seen> log = std::make_shared<seen>();

  fixture()
      : sys(deterministic(cfg)),
        sched(
            dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // nop
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(
    a_timer_an_actor_sends_itself_reaches_its_default_handler, fixture) {
  auto x = sys.spawn(host, log, true);
  sched.run();
  sched.advance_time(4999ms);
  sched.run();
  BOOST_CHECK(log->timers.empty());
  sched.advance_time(1ms);
  sched.run();
  BOOST_REQUIRE_EQUAL(log->timers.size(), 1u);
  BOOST_CHECK(log->timers[0].tag == kill_tag);
  BOOST_CHECK_EQUAL(log->timers[0].arg, 42u);
  BOOST_CHECK_EQUAL(log->others, 0u);
  caf::anon_send_exit(x, caf::exit_reason::kill);
  sched.run();
}

BOOST_FIXTURE_TEST_CASE(the_same_message_from_another_sender_is_no_timer,
                        fixture) {
  auto x = sys.spawn(host, log, false);
  sys.spawn([x](caf::event_based_actor* self) {
    self->send(x, kill_tag, uint64_t{42});
  });
  caf::anon_send(x, kill_tag, uint64_t{42});
  sched.run();
  BOOST_CHECK(log->timers.empty());
  BOOST_CHECK_EQUAL(log->others, 2u);
  caf::anon_send_exit(x, caf::exit_reason::kill);
  sched.run();
}
