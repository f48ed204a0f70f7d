#include "runtime/cluster/membership.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/core/log.hpp"
#include "runtime/journal/postgres/pg_journal.hpp"

namespace cartd {

namespace {

using clock_type = cluster_lease::clock_type;
using std::chrono::milliseconds;

/// The worker's own "do what is due, then wait a little" message.
using tick_atom = caf::atom_constant<caf::atom("mtick")>;

/// Longest wait on the notification socket: the mailbox (ack, leave, exit)
/// is looked at between waits.
constexpr auto max_wait = caf::timespan{milliseconds{20}};

/// A read right after a member's lease lapses by the database's clock, not
/// before (a little later keeps a clock tick of rounding from reading it
/// still valid).
constexpr auto after_lapse = caf::timespan{milliseconds{2}};

bool same_member(const cluster_member& x, const cluster_member& y) {
  return x.name == y.name && x.incarnation == y.incarnation &&
         x.http == y.http && x.cluster == y.cluster && x.status == y.status &&
         x.since_ms == y.since_ms && x.view_seen == y.view_seen &&
         x.lapsed == y.lapsed;
}

bool same_view(const cluster_view& x, const cluster_view& y) {
  return x.number == y.number &&
         std::equal(x.members.begin(), x.members.end(), y.members.begin(),
                    y.members.end(), same_member);
}

std::string message_of(const caf::error& err) {
  auto& context = err.context();
  if (context.match_elements<std::string>())
    return context.get_as<std::string>(0);
  return caf::to_string(err);
}

struct membership_state {
  static inline const char* name = "cartd.membership";

  caf::event_based_actor* self = nullptr;
  std::unique_ptr<member_store> store;
  membership_settings cfg;
  std::shared_ptr<cluster_lease> lease;
  std::shared_ptr<journal_fence> fence;
  caf::actor listener;

  /// This node's row while joined (0: not a member now).
  uint64_t incarnation = 0;
  /// An earlier incarnation whose row may still be there (lost lease):
  /// deleted before the next join.
  uint64_t stale_incarnation = 0;
  /// A graceful leave was asked for: no rejoin after that.
  bool leaving = false;
  /// Why the last join failed (logged once per reason).
  std::string join_problem;

  clock_type::time_point next_join;
  clock_type::time_point next_renew;
  clock_type::time_point next_read;
  std::optional<cluster_view> last_sent;

  caf::timespan lease_margin() const { return cfg.lease - cfg.lease / 4; }

  cluster_member self_row() const {
    cluster_member result;
    result.name = cfg.name;
    result.http = cfg.http;
    result.cluster = cfg.cluster;
    return result;
  }

  // -- the lease --------------------------------------------------------------

  void try_join(clock_type::time_point now) {
    if (stale_incarnation != 0) {
      // Our own earlier row (the fence is 0 already, so this node appends
      // nothing under it): deleting it waits for the appends still in
      // flight and lets the others take its carts at once.
      if (auto err = store->leave(cfg.name, stale_incarnation)) {
        note_join_problem(message_of(err));
        next_join = now + cfg.heartbeat;
        return;
      }
      stale_incarnation = 0;
    }
    auto sent = clock_type::now();
    auto joined = store->join(self_row(), cfg.lease);
    if (!joined) {
      note_join_problem(message_of(joined.error()));
      next_join = clock_type::now() + cfg.heartbeat;
      return;
    }
    join_problem.clear();
    incarnation = *joined;
    if (fence != nullptr)
      fence->incarnation.store(incarnation, std::memory_order_release);
    lease->extend_to(sent + lease_margin());
    next_renew = sent + cfg.heartbeat;
    next_read = clock_type::now();
    log().info("cluster: {} joined as incarnation {}", cfg.name, incarnation);
    if (listener)
      self->send(listener, lease_atom::value, true);
  }

  void note_join_problem(const std::string& why) {
    if (why != join_problem)
      log().warn("cluster: {} cannot join yet, retrying every heartbeat: {}",
                 cfg.name, why);
    join_problem = why;
  }

  void renew(clock_type::time_point now) {
    auto sent = now;
    auto err = store->renew(cfg.name, incarnation, cfg.lease);
    if (!err) {
      // Never later than what the database granted: the database counts
      // from a moment after `sent`.
      auto before = lease->valid_until();
      lease->extend_to(sent + lease_margin());
      next_renew = sent + cfg.heartbeat;
      // Whoever saw the lease end saw it before the extension (this
      // worker is the lease's only writer) at a moment >= before, so
      // before <= now. (A lease that would have ended just after the
      // extension is reported too: an extra grant is a no-op.)
      auto now = clock_type::now();
      if (before <= now && lease->valid_at(now))
        serve_again();
      // (Not valid even now: the renewal took longer than the margin, and
      // step() loses the lease.)
      return;
    }
    if (member_errc_of(err) == member_errc::lost) {
      lose_lease(message_of(err));
      return;
    }
    // The database did not answer: try again soon; the lease runs out on
    // its own if none succeeds in time.
    next_renew = clock_type::now() + cfg.heartbeat / 4;
  }

  /// A renewal succeeded after this node's lease clock had run out (the
  /// node was too slow to renew in time: starved of CPU, paused, a slow
  /// round trip) while the database's lease had not: the renewal found the
  /// row with a valid lease, so no other node removed it or took its carts,
  /// and this incarnation may serve again. Whoever saw the clock run out
  /// meanwhile stopped serving (the router released every cart and
  /// acknowledges no view until told otherwise), so say so: without it the
  /// router would wait for the (lease_atom, true) of a rejoin that never
  /// comes, serving nothing and holding back every later view's handover
  /// on every node.
  void serve_again() {
    log().warn("cluster: {} renewed its lease (incarnation {}) after its "
               "lease clock had run out: serving again",
               cfg.name, incarnation);
    if (listener)
      self->send(listener, lease_atom::value, true);
  }

  void lose_lease(const std::string& why) {
    lease->revoke();
    if (fence != nullptr)
      fence->incarnation.store(0, std::memory_order_release);
    log().warn("cluster: {} lost its lease (incarnation {}): {}", cfg.name,
               incarnation, why);
    stale_incarnation = incarnation;
    incarnation = 0;
    next_join = clock_type::now();
    next_read = clock_type::now();
    if (listener)
      self->send(listener, lease_atom::value, false);
  }

  // -- the view ---------------------------------------------------------------

  void read(clock_type::time_point now) {
    next_read = now + cfg.heartbeat;
    auto got = store->read_view();
    if (!got) {
      next_read = clock_type::now() + cfg.heartbeat / 4;
      return;
    }
    bool removed = false;
    for (auto& m : got->view.members) {
      if (!m.lapsed || m.name == cfg.name)
        continue;
      // Any survivor may; the DELETE is idempotent and waits for the
      // member's fenced appends still in flight.
      auto gone = store->remove_lapsed(m.name, m.incarnation);
      if (gone && *gone) {
        log().info("cluster: removed {} (incarnation {}): its lease lapsed",
                   m.name, m.incarnation);
        removed = true;
      }
    }
    if (removed) {
      got = store->read_view();
      if (!got) {
        next_read = clock_type::now() + cfg.heartbeat / 4;
        return;
      }
    }
    if (got->next_lapse) {
      // Read again right after the next lease is due to lapse (its holder
      // will usually have renewed by then), so a dead member is removed
      // within about a heartbeat of its lease's end.
      auto at = clock_type::now() + *got->next_lapse + after_lapse;
      next_read = std::min(next_read, at);
    }
    if (!last_sent || !same_view(*last_sent, got->view)) {
      last_sent = got->view;
      if (listener)
        self->send(listener, view_atom::value, got->view);
    }
  }

  // -- the loop ---------------------------------------------------------------

  void step() {
    auto now = clock_type::now();
    if (incarnation == 0) {
      if (!leaving && now >= next_join)
        try_join(now);
    } else {
      if (now >= next_renew)
        renew(now);
      if (incarnation != 0 && !lease->valid_at(clock_type::now()))
        lose_lease("no renewal succeeded within the lease");
    }
    if (clock_type::now() >= next_read)
      read(clock_type::now());
    auto due = next_read;
    if (incarnation != 0)
      due = std::min({due, next_renew, lease->valid_until()});
    else if (!leaving)
      due = std::min(due, next_join);
    auto wait = std::clamp(
        std::chrono::duration_cast<caf::timespan>(due - clock_type::now()),
        caf::timespan{0}, max_wait);
    auto changed = store->wait_for_change(wait);
    if (!changed)
      // The database is unreachable: reads, renewals and joins retry on
      // their own schedule; do not spin on reconnects meanwhile.
      std::this_thread::sleep_for(
          std::max(wait, caf::timespan{milliseconds{5}}));
    else if (*changed)
      next_read = clock_type::now();
  }

  void stop() {
    if (incarnation != 0 || stale_incarnation != 0) {
      // Bounded by the lease: after that the row lapses anyway.
      store->set_timeout(cfg.lease);
      lease->revoke();
      if (fence != nullptr)
        fence->incarnation.store(0, std::memory_order_release);
      for (auto inc : {incarnation, stale_incarnation})
        if (inc != 0)
          if (auto err = store->leave(cfg.name, inc))
            log().warn("cluster: {} could not delete its row: {}", cfg.name,
                       message_of(err));
      incarnation = stale_incarnation = 0;
    }
  }
};

caf::behavior membership_worker(caf::stateful_actor<membership_state>* self,
                                std::unique_ptr<member_store>* store,
                                membership_settings cfg,
                                std::shared_ptr<cluster_lease> lease,
                                std::shared_ptr<journal_fence> fence,
                                caf::actor listener) {
  auto& st = self->state;
  st.self = self;
  st.store = std::move(*store);
  st.cfg = std::move(cfg);
  st.lease = std::move(lease);
  st.fence = std::move(fence);
  st.listener = std::move(listener);
  // Every call is bounded by a heartbeat: the worker notices a lost lease,
  // and answers its mailbox, within about a heartbeat even when the
  // database hangs.
  st.store->set_timeout(st.cfg.heartbeat);
  st.lease->revoke();
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    self->state.stop();
    self->quit(msg.reason);
  });
  self->send(self, tick_atom::value);
  return {
      [self](tick_atom) {
        self->state.step();
        self->send(self, tick_atom::value);
      },
      [self](ack_atom, uint64_t view) {
        auto& st = self->state;
        if (st.incarnation == 0)
          return;
        if (auto err = st.store->ack_view(st.cfg.name, st.incarnation, view))
          log().warn("cluster: {} could not acknowledge view {}: {}",
                     st.cfg.name, view, message_of(err));
        st.next_read = clock_type::now();
      },
      [self](leave_atom) -> caf::result<uint64_t> {
        auto& st = self->state;
        st.leaving = true;
        if (st.incarnation == 0)
          return make_error(member_errc::lost,
                            st.cfg.name + " is not a member now");
        auto view = st.store->mark_leaving(st.cfg.name, st.incarnation);
        st.next_read = clock_type::now();
        if (!view)
          return std::move(view.error());
        return *view;
      },
  };
}

} // namespace

caf::actor spawn_membership(caf::actor_system& sys,
                            std::unique_ptr<member_store> store,
                            membership_settings settings,
                            std::shared_ptr<cluster_lease> lease,
                            std::shared_ptr<journal_fence> fence,
                            caf::actor listener) {
  // The store is handed over through a pointer: CAF copies spawn arguments.
  auto holder =
      std::make_shared<std::unique_ptr<member_store>>(std::move(store));
  return sys.spawn<caf::detached>(
      [holder, settings = std::move(settings), lease = std::move(lease),
       fence = std::move(fence), listener = std::move(listener)](
          caf::stateful_actor<membership_state>* self) mutable {
        return membership_worker(self, holder.get(), std::move(settings),
                                 std::move(lease), std::move(fence),
                                 std::move(listener));
      });
}

} // namespace cartd
