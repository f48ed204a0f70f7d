#include "actors/cart/actor/cart_actor_impl.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
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
  /// Fault injection queued behind a write: throw when its turn comes.
  bool crash = false;
};

/// What a request with an Idempotency-Key produced.
struct remembered_reply {
  std::string digest;
  /// The cart after the request, as encode_state wrote it.
  std::string state;
  int64_t recorded_at_ms = 0;
};

struct cart_state {
  cart_state() = default;
  cart_state(const cart_state&) = delete;
  cart_state& operator=(const cart_state&) = delete;

  /// Runs whenever this incarnation ends (CAF destroys the state on exit,
  /// whatever the reason): watchers drop their copies.
  ~cart_state() {
    for (auto& watcher : watchers)
      caf::anon_send(watcher, gone_atom::value, id, static_cast<uint64_t>(aid));
  }

  std::string id;
  caf::actor_id aid = 0;
  /// Front ends keeping a copy of this cart (watch_atom): each gets every
  /// stored change before its requester's reply, and gone_atom at the end.
  std::vector<caf::actor> watchers;
  cart current;
  journal_actor journal;
  std::shared_ptr<const cart_settings> settings;
  /// A journal append is in flight; `inflight` answers it.
  bool writing = false;
  caf::typed_response_promise<cart_view> inflight;
  /// Mutations waiting for the in-flight write, oldest first.
  std::vector<pending_mutation> pending;
  /// A queued fault injection being carried out (answered by the crash).
  caf::typed_response_promise<cart_view> crash_request;
  /// When the cart last handled a get or a change.
  std::chrono::steady_clock::time_point last_active;
  /// Asked to passivate while writing: quit once idle.
  bool passivate = false;
  /// Idempotency-Key -> original reply, within retention.
  std::unordered_map<std::string, remembered_reply> replies;

  static inline const char* name = "cartd.cart";
};

using cart_self = cart_actor::stateful_pointer<cart_state>;

int64_t retention_ms(const cart_settings& settings) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           settings.idempotency_retention)
    .count();
}

bool is_journal_error(const caf::error& err, journal_errc code) {
  return err.category() == caf::atom("journal")
         && err.code() == static_cast<uint8_t>(code);
}

void remember(cart_self self, const std::string& key, remembered_reply reply) {
  auto& replies = self->state.replies;
  if (replies.size() >= 64) {
    auto horizon = journal_now_ms() - retention_ms(*self->state.settings);
    for (auto i = replies.begin(); i != replies.end();)
      i = i->second.recorded_at_ms < horizon ? replies.erase(i) : ++i;
  }
  replies.insert_or_assign(key, std::move(reply));
}

void resume(cart_self self);

// Runs one mutation to the point where it waits for the journal, or answers
// it at once when it is refused or is a retry.
void start_write(cart_self self, pending_mutation job) {
  auto& st = self->state;
  if (job.crash) {
    st.crash_request = std::move(job.promise);
    throw std::runtime_error("injected fault");
  }
  auto& m = job.mutation;
  std::string digest;
  if (!m.idempotency_key.empty()) {
    digest = request_digest(m);
    auto i = st.replies.find(m.idempotency_key);
    if (i != st.replies.end()) {
      auto horizon = journal_now_ms() - retention_ms(*st.settings);
      if (i->second.recorded_at_ms < horizon) {
        st.replies.erase(i);
      } else if (i->second.digest != digest) {
        job.promise.deliver(make_error(cart_errc::idempotency_key_reused));
        return;
      } else if (auto original = decode_state(i->second.state)) {
        job.promise.deliver(make_view(st.id, *original));
        return;
      }
    }
  }
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
  // The state after the change, computed ahead but adopted only once the
  // journal has it: the cart never runs ahead of its journal.
  auto next = st.current;
  for (auto& ev : verdict.events)
    apply_in_place(next, ev);
  journal_append req;
  req.stream = st.id;
  req.expected_seq = st.current.version;
  req.payloads.reserve(verdict.events.size());
  for (auto& ev : verdict.events)
    req.payloads.push_back(encode_event(ev));
  auto every = st.settings->snapshot_every;
  bool keyed = !m.idempotency_key.empty();
  std::string encoded;
  if (keyed || (every > 0 && next.version / every > st.current.version / every))
    encoded = encode_state(next);
  if (every > 0 && next.version / every > st.current.version / every)
    req.snapshot = encoded;
  if (keyed) {
    req.idempotency_key = m.idempotency_key;
    req.request_digest = digest;
    req.response = encoded;
  }
  st.writing = true;
  st.inflight = std::move(job.promise);
  self
    ->request(st.journal, st.settings->journal_timeout, append_atom::value,
              std::move(req))
    .then(
      [self, next = std::move(next), key = std::move(m.idempotency_key),
       digest = std::move(digest),
       encoded = std::move(encoded)](uint64_t) mutable {
        auto& st = self->state;
        st.current = std::move(next);
        st.writing = false;
        if (!key.empty())
          remember(self, key,
                   remembered_reply{std::move(digest), std::move(encoded),
                                    journal_now_ms()});
        auto view = make_view(st.id, st.current);
        // Typed actors may not send() to untyped ones (the front end is an
        // io::broker); enqueue directly, with this cart as the sender.
        for (auto& watcher : st.watchers)
          watcher->enqueue(self->ctrl(), caf::make_message_id(),
                           caf::make_message(changed_atom::value, view),
                           self->context());
        st.inflight.deliver(std::move(view));
        resume(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.writing = false;
        log().warn("cart {}: write failed: {}", st.id,
                   self->system().render(err));
        st.inflight.deliver(make_error(cart_errc::storage_failure,
                                       self->system().render(err)));
        if (!is_journal_error(err, journal_errc::unavailable)) {
          // A conflict (someone else wrote this stream) or a timeout (the
          // write may still land): our state may be stale. Stop; the next
          // request activates the cart from the journal.
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
  if (st.passivate && !st.writing)
    self->quit();
}

// Adopts what the journal holds for this cart; false if it is unreadable.
bool recover(cart_self self, journal_recovery& stored) {
  auto& st = self->state;
  if (!stored.snapshot.empty()) {
    auto snapshot = decode_state(stored.snapshot);
    if (!snapshot || snapshot->version != stored.snapshot_seq) {
      log().error("cart {}: unreadable snapshot at {}", st.id,
                  stored.snapshot_seq);
      return false;
    }
    st.current = std::move(*snapshot);
  }
  for (auto& record : stored.events) {
    auto ev = decode_event(record.payload);
    if (!ev || record.seq != st.current.version + 1) {
      log().error("cart {}: unreadable event {}", st.id, record.seq);
      return false;
    }
    apply_in_place(st.current, *ev);
  }
  for (auto& record : stored.idempotency)
    st.replies.insert_or_assign(record.key,
                                remembered_reply{std::move(
                                                   record.request_digest),
                                                 std::move(record.response),
                                                 record.recorded_at_ms});
  return true;
}

cart_actor::behavior_type
cart_impl(cart_self self, std::string id, journal_actor journal,
          std::shared_ptr<const cart_settings> settings) {
  auto& st = self->state;
  st.id = std::move(id);
  st.aid = self->id();
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
    if (st.crash_request.pending())
      st.crash_request.deliver(make_error(cart_errc::crashed, what));
    // The write in flight may still commit: say so, never "not applied".
    if (st.writing)
      st.inflight.deliver(make_error(
        cart_errc::crashed, "the change may have been applied; retry with "
                            "the same Idempotency-Key to find out"));
    return make_error(cart_errc::crashed, what);
  });
  // Activation: nothing else is handled until recovery is done.
  auto keys_since = journal_now_ms() - retention_ms(*st.settings);
  self
    ->request(st.journal, st.settings->journal_timeout, recover_atom::value,
              st.id, keys_since)
    .await(
      [self](journal_recovery& stored) {
        if (!recover(self, stored))
          self->quit(make_error(cart_errc::storage_failure, "corrupt"));
      },
      [self](caf::error& err) {
        log().warn("cart {}: recovery failed: {}", self->state.id,
                   self->system().render(err));
        self->quit(std::move(err));
      });
  auto idle = st.settings->idle_timeout.count() > 0
                ? caf::duration{st.settings->idle_timeout}
                : caf::duration{};
  return {
    [self](caf::get_atom) -> cart_view {
      self->state.last_active = std::chrono::steady_clock::now();
      return make_view(self->state.id, self->state.current);
    },
    [self](watch_atom, caf::actor& watcher) -> cart_view {
      auto& st = self->state;
      st.last_active = std::chrono::steady_clock::now();
      if (watcher
          && std::find(st.watchers.begin(), st.watchers.end(), watcher)
               == st.watchers.end())
        st.watchers.push_back(std::move(watcher));
      return make_view(st.id, st.current);
    },
    [self](cart_mutation& m) -> caf::result<cart_view> {
      auto& st = self->state;
      st.last_active = std::chrono::steady_clock::now();
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
      auto& st = self->state;
      if (!st.settings->fault_injection)
        return make_error(cart_errc::unavailable, "fault injection is off");
      if (!st.writing)
        throw std::runtime_error("injected fault");
      // Crash in order, after the write in flight, like any other command.
      auto promise = self->make_response_promise<cart_view>();
      st.pending.push_back(pending_mutation{{}, promise, true});
      return promise;
    },
    [self](passivate_atom) {
      // A cart in use stays: evicting it would only bounce the requests
      // already on their way to it (the resident cap is soft).
      auto& st = self->state;
      if (std::chrono::steady_clock::now() - st.last_active
          < st.settings->min_residency)
        return false;
      st.passivate = true;
      if (!st.writing)
        self->quit();
      return true;
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
