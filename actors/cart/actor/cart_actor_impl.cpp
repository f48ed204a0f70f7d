#include "actors/cart/actor/cart_actor_impl.hpp"

#include <exception>
#include <stdexcept>
#include <vector>

#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cart/actor/event_codec.hpp"
#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

namespace cartd {

namespace {

struct pending_mutation {
  cart_mutation mutation;
  caf::typed_response_promise<cart_view> promise;
};

struct cart_state {
  std::string id;
  cart current;
  journal_actor journal;
  std::shared_ptr<const cart_settings> settings;
  /// A journal append is in flight; `inflight` answers it.
  bool writing = false;
  caf::typed_response_promise<cart_view> inflight;
  /// Mutations waiting for the in-flight write, oldest first.
  std::vector<pending_mutation> pending;

  static inline const char* name = "cartd.cart";
};

using cart_self = cart_actor::stateful_pointer<cart_state>;

void resume(cart_self self);

// Runs one mutation to the point where it waits for the journal, or answers
// it at once when it is refused.
void start_write(cart_self self, pending_mutation job) {
  auto& st = self->state;
  auto& m = job.mutation;
  if (m.has_expected_version && m.expected_version != st.current.version) {
    job.promise.deliver(make_error(
      cart_errc::version_mismatch,
      "cart is at version " + std::to_string(st.current.version)));
    return;
  }
  auto verdict = decide(st.current, to_command(m), st.settings->limits);
  if (!verdict.accepted()) {
    job.promise.deliver(make_error(verdict.error));
    return;
  }
  journal_payloads batch;
  batch.payloads.reserve(verdict.events.size());
  for (auto& ev : verdict.events)
    batch.payloads.push_back(encode_event(ev));
  st.writing = true;
  st.inflight = std::move(job.promise);
  self
    ->request(st.journal, st.settings->journal_timeout, append_atom::value,
              st.id, st.current.version, std::move(batch))
    .then(
      [self, events = std::move(verdict.events)](uint64_t) {
        auto& st = self->state;
        for (auto& ev : events)
          apply_in_place(st.current, ev);
        st.writing = false;
        st.inflight.deliver(make_view(st.id, st.current));
        resume(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.writing = false;
        log().warn("cart {}: write failed: {}", st.id,
                   self->system().render(err));
        st.inflight.deliver(make_error(cart_errc::storage_failure,
                                       self->system().render(err)));
        if (err.category() == caf::atom("journal")
            && err.code() == static_cast<uint8_t>(journal_errc::conflict)) {
          // Someone else wrote this cart's stream: our state is stale.
          // Stop; the next request activates the cart from the journal.
          for (auto& job : st.pending)
            job.promise.deliver(make_error(cart_errc::unavailable));
          st.pending.clear();
          self->quit(std::move(err));
          return;
        }
        resume(self);
      });
}

void resume(cart_self self) {
  auto& st = self->state;
  while (!st.writing && !st.pending.empty()) {
    auto job = std::move(st.pending.front());
    st.pending.erase(st.pending.begin());
    start_write(self, std::move(job));
  }
}

cart_actor::behavior_type
cart_impl(cart_self self, std::string id, journal_actor journal,
          std::shared_ptr<const cart_settings> settings) {
  auto& st = self->state;
  st.id = std::move(id);
  st.journal = std::move(journal);
  st.settings = std::move(settings);
  self->set_exception_handler([self](std::exception_ptr& ep) -> caf::error {
    auto& st = self->state;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      // keep the generic description
    }
    log().error("cart {} crashed: {}", st.id, what);
    // Queued commands never ran: their clients may simply retry.
    for (auto& job : st.pending)
      job.promise.deliver(make_error(cart_errc::unavailable, "restarting"));
    st.pending.clear();
    if (st.writing)
      st.inflight.deliver(make_error(cart_errc::unavailable, "restarting"));
    return make_error(cart_errc::crashed, what);
  });
  // Activation: nothing else is handled until the journal replay is done.
  self
    ->request(st.journal, st.settings->journal_timeout, replay_atom::value,
              st.id, uint64_t{0})
    .await(
      [self](journal_events& stored) {
        auto& st = self->state;
        for (auto& record : stored.events) {
          auto ev = decode_event(record.payload);
          if (!ev) {
            log().error("cart {}: undecodable event {}", st.id, record.seq);
            self->quit(make_error(cart_errc::storage_failure, "corrupt"));
            return;
          }
          apply_in_place(st.current, *ev);
        }
      },
      [self](caf::error& err) {
        log().warn("cart {}: replay failed: {}", self->state.id,
                   self->system().render(err));
        self->quit(std::move(err));
      });
  auto idle = st.settings->idle_timeout.count() > 0
                ? caf::duration{st.settings->idle_timeout}
                : caf::duration{};
  return {
    [self](caf::get_atom) -> cart_view {
      return make_view(self->state.id, self->state.current);
    },
    [self](cart_mutation& m) -> caf::result<cart_view> {
      auto& st = self->state;
      auto promise = self->make_response_promise<cart_view>();
      if (st.writing) {
        if (st.pending.size() >= st.settings->max_pending)
          return make_error(cart_errc::overloaded,
                            "too many changes queued for this cart");
        st.pending.push_back(pending_mutation{std::move(m), promise});
        return promise;
      }
      start_write(self, pending_mutation{std::move(m), promise});
      return promise;
    },
    [self](crash_atom) -> caf::result<cart_view> {
      if (!self->state.settings->fault_injection)
        return make_error(cart_errc::unavailable, "fault injection is off");
      throw std::runtime_error("injected fault");
    },
    caf::after(idle) >>
      [self] {
        auto& st = self->state;
        if (!st.writing && st.pending.empty())
          self->quit();
      },
  };
}

} // namespace

cart_actor spawn_cart(caf::event_based_actor* parent, std::string id,
                      journal_actor journal,
                      std::shared_ptr<const cart_settings> settings) {
  return parent->spawn(cart_impl, std::move(id), std::move(journal),
                       std::move(settings));
}

} // namespace cartd
