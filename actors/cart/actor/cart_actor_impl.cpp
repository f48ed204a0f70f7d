#include "actors/cart/actor/cart_actor_impl.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/ref_counted.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cart/actor/event_codec.hpp"
#include "runtime/core/caf_shims.hpp"
#include "runtime/core/log.hpp"
#include "runtime/journal/journal.hpp"

// Memory. A node keeps up to millions of carts resident, so what one cart
// costs is what matters here (bench_memory measures it):
//   * CAF's own part of an actor (scheduled_actor, its mailbox, control
//     block: about 1 KiB) is fixed;
//   * the cart's own fields are kept to what every resident cart needs (id,
//     model, last use, incarnation, three flags); what only some carts need
//     for a while (a write in flight and the mutations queued behind it,
//     idempotent replies, watchers, a queued fault injection) lives in one
//     `cart_extra`, allocated on first use and freed once empty again;
//   * the behavior is built once per cart_spawner and shared by all its
//     carts: the handlers capture nothing and find their cart through
//     `cart_impl::current()`, set while CAF runs the cart (resume);
//   * no CAF receive timeout (`caf::after`) for idle passivation: it keeps a
//     clock entry per resident cart (three allocations, ~200 B) and sends
//     every message the cart handles through the clock thread. Whoever holds
//     the carts (the shard) sweeps them instead (cart_spawner::looks_idle,
//     idle_check_atom);
//   * CAF 0.17 keeps a request's timeout in its clock until the timeout is
//     due, even when the response came long before (three allocations and a
//     strong reference to the cart, for journal_timeout): a cart cancels the
//     timeout of its journal requests once the response is in.

// Pipelined writes. A change waits for the journal's fsync, which is most
// of its latency; a cart with changes queued does not wait for one write's
// acknowledgement before it sends the next: it decides each change against
// the state after the writes in flight and sends its append right away (up
// to max_in_flight), so the journal commits them together. Acknowledgements
// come back in order (one journal, one stream, batches in order), and the
// cart adopts each state and answers each request in that order. Still, the
// cart never runs ahead of its journal: current_state_ is only ever what the
// journal acknowledged. Changes with an Idempotency-Key (and queued fault
// injections) run alone, so a retry always finds the reply of the request
// it repeats. When a write fails, those sent behind it cannot be stored
// (their sequence numbers no longer follow the stream's) and nothing new is
// sent until they are all back.

namespace cartd {

namespace {

using clock_type = std::chrono::steady_clock;

/// Most appends one cart has in flight at once.
constexpr uint16_t max_in_flight = 32;

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

/// A journal append sent and not answered yet.
struct write_in_flight {
  caf::typed_response_promise<cart_view> promise;
  /// The cart once this append (and every one before it) is stored.
  cart next;
  bool keyed = false;
};

/// What a cart needs only now and then; see "Memory" above.
struct cart_extra {
  /// Front ends keeping a copy of this cart (watch_atom): each gets every
  /// stored change before its requester's reply, and gone_atom at the end.
  std::vector<cart_watcher_actor> watchers;
  /// The appends in flight, oldest first (see "Pipelined writes" above). A
  /// vector: an empty std::deque allocates 600 bytes, and most carts that
  /// have a cart_extra (watched ones) have nothing in flight.
  std::vector<write_in_flight> inflight;
  /// Start nothing new until the writes in flight are all back: one of
  /// them failed, or the next change was refused against their state.
  bool stalled = false;
  /// Mutations waiting to be sent, oldest first.
  std::vector<pending_mutation> pending;
  /// A queued fault injection being carried out (answered by the crash).
  caf::typed_response_promise<cart_view> crash_request;
  /// Idempotency-Key -> original reply, within retention.
  std::unordered_map<std::string, remembered_reply> replies;
};

int64_t retention_ms(const cart_settings& settings) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           settings.idempotency_retention)
    .count();
}

bool is_journal_error(const caf::error& err, journal_errc code) {
  return err.category() == caf::atom("journal")
         && err.code() == static_cast<uint8_t>(code);
}

/// What a cart answers: the front end's interface and its shard's.
using cart_impl_actor = cart_actor::extend_with<cart_control_actor>;

cart_impl_actor::behavior_type make_cart_behavior();

/// A random non-zero 64-bit number: a cart incarnation's id (see
/// "Incarnations" in cart_actor.hpp). Each scheduler thread seeds its own
/// generator once from std::random_device.
uint64_t draw_incarnation() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device source;
    return (uint64_t{source()} << 32) ^ source();
  }()};
  for (;;)
    if (auto x = engine(); x != 0)
      return x;
}

} // namespace

// -- what carts share ---------------------------------------------------------

struct cart_spawner::shared : caf::ref_counted {
  shared(journal_actor journal, std::shared_ptr<const cart_settings> settings)
    : journal(std::move(journal)),
      settings(std::move(settings)),
      behavior(make_cart_behavior()) {
    // nop
  }

  journal_actor journal;
  std::shared_ptr<const cart_settings> settings;
  /// The behavior of every cart: handlers without captures.
  cart_impl_actor::behavior_type behavior;
};

namespace {

// -- the cart -----------------------------------------------------------------

class cart_impl final : public cart_impl_actor::base {
public:
  using super = cart_impl_actor::base;

  /// Which cart runs on this thread (see "Memory" above).
  using running = caf_shims::running_actor<cart_impl>;

  cart_impl(caf::actor_config& cfg, std::string id,
            caf::intrusive_ptr<const cart_spawner::shared> shared)
    : super(cfg),
      id_(std::move(id)),
      shared_(std::move(shared)),
      incarnation_(draw_incarnation()) {
    set_exception_handler(
      [](caf::scheduled_actor* ptr, std::exception_ptr& ep) -> caf::error {
        return static_cast<cart_impl*>(ptr)->on_exception(ep);
      });
  }

  const char* name() const override {
    return "cartd.cart";
  }

  /// This incarnation's id: carried by every view it produces and by its
  /// gone_atom, and the tag of its journal appends.
  uint64_t incarnation() const noexcept {
    return incarnation_;
  }

  /// The cart whose message CAF is handling on this thread. Only valid in
  /// the handlers of the shared behavior.
  static cart_impl& current() {
    auto* self = running::get();
    if (self == nullptr) {
      // Only cart_impl::resume runs the shared behavior.
      log().critical("cart handler called outside of a cart");
      std::terminate();
    }
    return *self;
  }

  resume_result resume(caf::execution_unit* ctx, size_t max) override {
    return running::resume(this, [&] { return super::resume(ctx, max); });
  }

  // -- handlers of the shared behavior ----------------------------------------

  cart_view on_get() {
    touch();
    return make_view(id_, current_state_);
  }

  cart_view on_watch(cart_watcher_actor& watcher) {
    touch();
    if (watcher) {
      auto& watchers = extra().watchers;
      if (std::find(watchers.begin(), watchers.end(), watcher)
          == watchers.end())
        watchers.push_back(std::move(watcher));
    }
    return make_view(id_, current_state_);
  }

  caf::result<cart_view> on_mutation(cart_mutation& m) {
    touch();
    auto promise = make_response_promise<cart_view>();
    pending_mutation job{std::move(m), promise};
    if ((extra_ != nullptr && !extra_->pending.empty()) || !can_start(job)) {
      auto& pending = extra().pending;
      if (pending.size() >= settings().max_pending)
        return make_error(cart_errc::overloaded,
                          "too many changes queued for this cart");
      pending.push_back(std::move(job));
      return promise;
    }
    start_write(std::move(job));
    trim();
    return promise;
  }

  caf::result<cart_view> on_crash_request() {
    if (!settings().fault_injection)
      return make_error(cart_errc::unavailable, "fault injection is off");
    if (!writing_)
      throw std::runtime_error("injected fault");
    // Crash in order, after the write in flight, like any other command.
    auto promise = make_response_promise<cart_view>();
    extra().pending.push_back(pending_mutation{{}, promise, true});
    return promise;
  }

  bool on_passivate() {
    // A cart in use stays: evicting it would only bounce the requests
    // already on their way to it (the resident cap is soft). A cart just
    // activated counts as in use: the request that activated it is still on
    // its way (evicting it then bounced that request, and under a tight cap
    // the retries could lose the race every time).
    if (clock_type::now() - last_active() < settings().min_residency)
      return false;
    passivate_ = true;
    if (!writing_)
      quit();
    return true;
  }

  /// Idle passivation (see "Memory" above): quit unless a request came in
  /// within the idle timeout or something is in flight. True: quitting.
  bool on_idle_check() {
    auto idle = settings().idle_timeout;
    if (idle.count() > 0 && idle_for(clock_type::now()) >= idle && !writing_
        && (extra_ == nullptr || extra_->pending.empty())) {
      quit();
      return true;
    }
    return false;
  }

  /// How long no request reached this cart (read by the sweeping shard).
  clock_type::duration idle_for(clock_type::time_point now) const {
    return now - last_active();
  }

protected:
  behavior_type make_behavior() override {
    // Activation: nothing else is handled until recovery is done.
    auto keys_since = journal_now_ms() - retention_ms(settings());
    request(shared_->journal, settings().journal_timeout, recover_atom::value,
            id_, keys_since)
      .await(
        [this](journal_recovery& stored) {
          forget_request_timeout();
          if (!recover(stored))
            quit(make_error(cart_errc::storage_failure, "corrupt"));
          trim();
        },
        [this](caf::error& err) {
          forget_request_timeout(err);
          log().warn("cart {}: recovery failed: {}", id_,
                     system().render(err));
          quit(std::move(err));
        });
    return shared_->behavior;
  }

  /// Runs whenever this incarnation ends, whatever the reason: watchers
  /// drop their copies, and the cart lets go of its data at once (the
  /// actor object itself lives on while handles to it exist).
  void on_exit() override {
    if (extra_ != nullptr)
      for (auto& watcher : extra_->watchers)
        caf::anon_send(watcher, gone_atom::value, id_, incarnation_);
    extra_.reset();
    current_state_ = cart{};
    shared_.reset();
  }

private:
  /// The client view of `state` held by this incarnation (hides the free
  /// make_view: every view a cart produces names its incarnation).
  cart_view make_view(const std::string& id, const cart& state) const {
    return cartd::make_view(id, state, incarnation_);
  }

  const cart_settings& settings() const {
    return *shared_->settings;
  }

  clock_type::time_point last_active() const {
    return clock_type::time_point{
      clock_type::duration{last_active_.load(std::memory_order_relaxed)}};
  }

  void touch() {
    last_active_.store(clock_type::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }

  cart_extra& extra() {
    if (extra_ == nullptr)
      extra_ = std::make_unique<cart_extra>();
    return *extra_;
  }

  /// Frees `extra_` once it holds nothing.
  void trim() {
    if (extra_ != nullptr && !writing_ && extra_->pending.empty()
        && extra_->watchers.empty() && extra_->replies.empty()
        && !extra_->crash_request.pending())
      extra_.reset();
  }

  /// Called in a journal response handler: CAF 0.17 would keep the
  /// request's timeout until it is due (see "Memory" above).
  void forget_request_timeout() {
    caf_shims::cancel_request_timeout(this);
  }

  void forget_request_timeout(const caf::error& err) {
    caf_shims::cancel_request_timeout(this, err);
  }

  /// Whether `job` may be sent now (see "Pipelined writes" above).
  bool can_start(const pending_mutation& job) const {
    if (writing_ == 0)
      return true;
    if (writing_ >= max_in_flight || job.crash
        || !job.mutation.idempotency_key.empty())
      return false;
    return !extra_->stalled && !extra_->inflight.back().keyed;
  }

  /// Answers every write still in flight with `err` (the cart is stopping).
  void fail_in_flight(const caf::error& err) {
    if (extra_ == nullptr)
      return;
    for (auto& w : extra_->inflight)
      w.promise.deliver(err);
    extra_->inflight.clear();
    writing_ = 0;
  }

  void remember(const std::string& key, remembered_reply reply) {
    auto& replies = extra().replies;
    if (replies.size() >= 64) {
      auto horizon = journal_now_ms() - retention_ms(settings());
      for (auto i = replies.begin(); i != replies.end();)
        i = i->second.recorded_at_ms < horizon ? replies.erase(i) : ++i;
    }
    replies.insert_or_assign(key, std::move(reply));
  }

  // Runs one mutation to the point where it waits for the journal, or
  // answers it at once when it is refused or is a retry.
  void start_write(pending_mutation job) {
    if (job.crash) {
      extra().crash_request = std::move(job.promise);
      throw std::runtime_error("injected fault");
    }
    auto& m = job.mutation;
    std::string digest;
    if (!m.idempotency_key.empty()) {
      digest = request_digest(m);
      if (extra_ != nullptr) {
        auto& replies = extra_->replies;
        auto i = replies.find(m.idempotency_key);
        if (i != replies.end()) {
          auto horizon = journal_now_ms() - retention_ms(settings());
          if (i->second.recorded_at_ms < horizon) {
            replies.erase(i);
          } else if (i->second.digest != digest) {
            job.promise.deliver(make_error(cart_errc::idempotency_key_reused));
            return;
          } else if (auto original = decode_state(i->second.state)) {
            job.promise.deliver(make_view(id_, *original));
            return;
          }
        }
      }
    }
    // The state this change applies to: after the writes in flight.
    const cart& base = writing_ > 0 ? extra_->inflight.back().next
                                    : current_state_;
    auto verdict = decide(base, to_command(m), settings().limits);
    bool mismatch = m.has_expected_version
                    && m.expected_version != base.version;
    if (writing_ > 0 && (mismatch || !verdict.accepted())) {
      // Refused against a state that is not stored yet (and may never be):
      // decide again once the writes in flight are back.
      extra_->stalled = true;
      extra_->pending.insert(extra_->pending.begin(), std::move(job));
      return;
    }
    if (mismatch) {
      job.promise.deliver(make_error(
        cart_errc::version_mismatch,
        "cart is at version " + std::to_string(base.version)));
      return;
    }
    if (!verdict.accepted()) {
      job.promise.deliver(make_error(verdict.error));
      return;
    }
    // The state after the change, computed ahead but adopted only once the
    // journal has it: the cart never runs ahead of its journal.
    auto next = base;
    for (auto& ev : verdict.events)
      apply_in_place(next, ev);
    journal_append req;
    req.stream = id_;
    req.expected_seq = base.version;
    req.payloads.reserve(verdict.events.size());
    for (auto& ev : verdict.events)
      req.payloads.push_back(encode_event(ev));
    auto every = settings().snapshot_every;
    bool keyed = !m.idempotency_key.empty();
    bool snapshot = every > 0 && next.version / every > base.version / every;
    std::string encoded;
    if (keyed || snapshot)
      encoded = encode_state(next);
    if (snapshot)
      req.snapshot = encoded;
    if (keyed) {
      req.idempotency_key = m.idempotency_key;
      req.request_digest = digest;
      req.response = encoded;
    }
    ++writing_;
    extra().inflight.push_back(
      write_in_flight{std::move(job.promise), std::move(next), keyed});
    auto epoch = epoch_;
    request(shared_->journal, settings().journal_timeout, append_atom::value,
            std::move(req))
      .then(
        [this, epoch, key = std::move(m.idempotency_key),
         digest = std::move(digest),
         encoded = std::move(encoded)](uint64_t) mutable {
          forget_request_timeout();
          auto w = std::move(extra_->inflight.front());
          extra_->inflight.erase(extra_->inflight.begin());
          if (--writing_ == 0)
            extra_->stalled = false;
          if (epoch != epoch_) {
            // Stored although a write before it failed: its state was
            // computed on a change that never happened. The journal refuses
            // such appends (journal_actor.hpp), so this is a defence, not a
            // path. Reload.
            w.promise.deliver(make_error(cart_errc::timeout));
            stop_writing(make_error(cart_errc::timeout));
            return;
          }
          current_state_ = std::move(w.next);
          if (!key.empty())
            remember(key, remembered_reply{std::move(digest),
                                           std::move(encoded),
                                           journal_now_ms()});
          auto view = make_view(id_, current_state_);
          for (auto& watcher : extra_->watchers)
            send(watcher, changed_atom::value, view);
          w.promise.deliver(std::move(view));
          drain();
          trim();
        },
        [this, epoch](caf::error& err) {
          forget_request_timeout(err);
          auto w = std::move(extra_->inflight.front());
          extra_->inflight.erase(extra_->inflight.begin());
          if (--writing_ == 0)
            extra_->stalled = false;
          bool doomed = epoch != epoch_;
          if (!doomed)
            log().warn("cart {}: write failed: {}", id_,
                       system().render(err));
          // The journal said no (after its retries, or a conflict): nothing
          // was stored. Anything else (no answer in time, the journal gone)
          // leaves the outcome open: the write may still land.
          bool refused = is_journal_error(err, journal_errc::unavailable)
                         || is_journal_error(err, journal_errc::conflict);
          auto answer = make_error(refused ? cart_errc::storage_failure
                                           : cart_errc::timeout,
                                   system().render(err));
          w.promise.deliver(answer);
          if (doomed && refused) {
            // Sent behind a write that failed: it could not be stored.
            drain();
            trim();
            return;
          }
          ++epoch_;
          if (!is_journal_error(err, journal_errc::unavailable)) {
            // A conflict (someone else wrote this stream) or a timeout (the
            // write may still land): our state may be stale. Stop; the next
            // request activates the cart from the journal. Writes sent
            // behind this one share its fate.
            stop_writing(refused ? make_error(cart_errc::storage_failure)
                                 : std::move(answer));
            return;
          }
          if (writing_ > 0)
            extra_->stalled = true;
          drain();
          trim();
        });
  }

  // Answers the writes in flight with `in_flight` and the queued ones with
  // unavailable, and stops this incarnation.
  void stop_writing(caf::error in_flight) {
    fail_in_flight(in_flight);
    for (auto& job : extra_->pending)
      job.promise.deliver(make_error(cart_errc::unavailable));
    extra_->pending.clear();
    quit(std::move(in_flight));
  }

  // Sends queued mutations, oldest first, while they may go.
  void drain() {
    while (extra_ != nullptr && !extra_->pending.empty()
           && can_start(extra_->pending.front())) {
      auto job = std::move(extra_->pending.front());
      extra_->pending.erase(extra_->pending.begin());
      start_write(std::move(job));
    }
    if (passivate_ && !writing_)
      quit();
  }

  // Adopts what the journal holds for this cart; false if it is unreadable.
  bool recover(journal_recovery& stored) {
    if (!stored.snapshot.empty()) {
      auto snapshot = decode_state(stored.snapshot);
      if (!snapshot || snapshot->version != stored.snapshot_seq) {
        log().error("cart {}: unreadable snapshot at {}", id_,
                    stored.snapshot_seq);
        return false;
      }
      current_state_ = std::move(*snapshot);
    }
    for (auto& record : stored.events) {
      auto ev = decode_event(record.payload);
      if (!ev || record.seq != current_state_.version + 1) {
        log().error("cart {}: unreadable event {}", id_, record.seq);
        return false;
      }
      apply_in_place(current_state_, *ev);
    }
    for (auto& record : stored.idempotency)
      extra().replies.insert_or_assign(
        record.key,
        remembered_reply{std::move(record.request_digest),
                         std::move(record.response), record.recorded_at_ms});
    return true;
  }

  caf::error on_exception(std::exception_ptr& ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      // keep the generic description
    }
    log().error("cart {} crashed: {}", id_, what);
    if (extra_ != nullptr) {
      // Queued commands never ran: their clients may simply retry.
      for (auto& job : extra_->pending)
        job.promise.deliver(make_error(cart_errc::unavailable, "restarting"));
      extra_->pending.clear();
      if (extra_->crash_request.pending())
        extra_->crash_request.deliver(make_error(cart_errc::crashed, what));
      // The writes in flight may still commit: say so, never "not applied".
      fail_in_flight(make_error(cart_errc::crashed,
                                "the change may have been applied; retry "
                                "with the same Idempotency-Key to find out"));
    }
    return make_error(cart_errc::crashed, what);
  }

  std::string id_;
  /// The last state the journal acknowledged.
  cart current_state_;
  caf::intrusive_ptr<const cart_spawner::shared> shared_;
  /// When the cart was activated or last handled a get or a change
  /// (steady_clock ticks); also read by the shard's idle sweep.
  std::atomic<clock_type::rep> last_active_{
    clock_type::now().time_since_epoch().count()};
  /// Present while any of its parts is in use.
  std::unique_ptr<cart_extra> extra_;
  /// Journal appends in flight; extra_->inflight answers them.
  uint16_t writing_ = 0;
  /// Counts failed writes: a write sent before the latest failure was
  /// computed on a state that may never be stored.
  uint16_t epoch_ = 0;
  /// Asked to passivate while writing: quit once idle.
  bool passivate_ = false;
  /// See incarnation().
  uint64_t incarnation_;
};

cart_impl_actor::behavior_type make_cart_behavior() {
  return {
    [](caf::get_atom) -> cart_view { return cart_impl::current().on_get(); },
    [](watch_atom, cart_watcher_actor& watcher) -> cart_view {
      return cart_impl::current().on_watch(watcher);
    },
    [](cart_mutation& m) -> caf::result<cart_view> {
      return cart_impl::current().on_mutation(m);
    },
    [](crash_atom) -> caf::result<cart_view> {
      return cart_impl::current().on_crash_request();
    },
    [](passivate_atom) { return cart_impl::current().on_passivate(); },
    [](idle_check_atom) { return cart_impl::current().on_idle_check(); },
  };
}

} // namespace

// -- cart_spawner -------------------------------------------------------------

cart_spawner::cart_spawner(journal_actor journal,
                           std::shared_ptr<const cart_settings> settings)
  : shared_(caf::make_counted<shared>(std::move(journal),
                                      std::move(settings))) {
  // nop
}

cart_spawner::cart_spawner(const cart_spawner&) = default;

cart_spawner::cart_spawner(cart_spawner&&) noexcept = default;

cart_spawner& cart_spawner::operator=(const cart_spawner&) = default;

cart_spawner& cart_spawner::operator=(cart_spawner&&) noexcept = default;

cart_spawner::~cart_spawner() = default;

cart_actor cart_spawner::spawn(caf::event_based_actor* parent,
                               std::string id) const {
  return parent->spawn<cart_impl>(std::move(id), shared_);
}

caf::timespan cart_spawner::sweep_interval() const {
  auto idle = shared_->settings->idle_timeout;
  if (idle.count() <= 0)
    return caf::timespan{0};
  return std::max(idle / 4, caf::timespan{std::chrono::milliseconds{1}});
}

bool cart_spawner::looks_idle(const caf::actor& cart) const {
  auto idle = shared_->settings->idle_timeout;
  if (idle.count() <= 0 || !cart)
    return false;
  // Only carts spawned by a cart_spawner come here; last_active_ is atomic.
  return caf_shims::local_actor<cart_impl>(cart).idle_for(clock_type::now())
         >= idle;
}

} // namespace cartd
